"""A loopback port of the harness process leading into a lab.

The harness runs in the machine's network namespace, where no route leads
into a lab (and none may be made). A Tunnel listens on 127.0.0.1 at an
ephemeral port and splices each connection it accepts to one that `connect`
opens, typically `Host.connect`, from inside a lab host: clients in the
harness (the Kubernetes API client) reach a lab service at a loopback
address, and lab traffic stays on loopback and in the lab's namespaces.

One thread accepts; each connection pair has a thread of its own. `close()`
stops them all: it closes the write end of a socket pair every thread also
waits on, joins the acceptor, shuts the live sockets down and joins the rest.
"""
from __future__ import annotations

import selectors
import socket
import threading
from typing import Callable

CHUNK = 65536


class Tunnel:
    def __init__(self, connect: Callable[[], socket.socket], name: str):
        self.name = name
        self._connect = connect
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop_r, self._stop_w = socket.socketpair()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"tunnel {name}: accept",
                                          daemon=True)
        self._acceptor.start()

    def __repr__(self) -> str:
        return f"<Tunnel 127.0.0.1:{self.port} -> {self.name}>"

    def _start_splice(self, client: socket.socket) -> None:
        thread = threading.Thread(target=self._splice, args=(client,), daemon=True,
                                  name=f"tunnel {self.name}: connection")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        """Count `sock` as live, unless the tunnel is closing (then close it)."""
        with self._lock:
            if not self._closed:
                self._live.add(sock)
                return True
        sock.close()
        return False

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            self._live.difference_update(socks)
        for sock in socks:
            sock.close()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._stop_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in sel.select()}
                if self._stop_r in ready:
                    return
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    continue
                if self._track(client):
                    self._start_splice(client)

    def _splice(self, client: socket.socket) -> None:
        try:
            upstream = self._connect()
        except OSError:
            self._forget(client)  # the client sees its connection closed
            return
        if not self._track(upstream):
            self._forget(client)
            return
        try:
            self._pump(client, upstream)
        except OSError:
            pass  # a reset on either side ends the pair
        finally:
            self._forget(client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways until both sides have finished sending (or the
        tunnel closes); a side's EOF is passed on as a half close."""
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            sel.register(self._stop_r, selectors.EVENT_READ)
            sending = 2
            while sending:
                for key, _ in sel.select():
                    if key.fileobj is self._stop_r:
                        return
                    data = key.fileobj.recv(CHUNK)
                    if data:
                        key.data.sendall(data)
                        continue
                    key.data.shutdown(socket.SHUT_WR)
                    sel.unregister(key.fileobj)
                    sending -= 1

    def close(self) -> None:
        """Stop accepting, end every connection, join every thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop_w.close()   # every select() sees the other end readable
        self._acceptor.join()  # from here on no connection thread starts
        with self._lock:
            live, threads = list(self._live), list(self._threads)
        for sock in live:      # a thread blocked in sendall() gets an error
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join()
        self._listener.close()
        self._stop_r.close()
