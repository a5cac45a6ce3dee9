"""TCP connections made by the harness process from inside a lab host's
network namespace (`Host.connect` of the netns and docker hosts).

setns(2) moves only the calling thread, and a socket keeps the namespace it
was made in: a short-lived thread enters the namespace, connects and hands
the socket back, while every other thread of the harness stays in the
machine's namespace. Nothing is routed or forwarded: the connection is the
lab host's own. (ctypes: os.setns needs Python 3.12.)
"""
from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(netns_path: str) -> None:
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({netns_path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def connect(netns_path: str, address: str, port: int, timeout: float = 10) -> socket.socket:
    """A blocking socket connected to address:port from inside the network
    namespace at `netns_path` (a pinned netns file or /proc/PID/ns/net)."""
    outcome: dict[str, socket.socket | OSError] = {}

    def in_namespace():
        try:
            _enter(netns_path)
            outcome["socket"] = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=in_namespace, name=f"connect {address}:{port} in {netns_path}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    sock = outcome["socket"]
    sock.settimeout(None)
    return sock
