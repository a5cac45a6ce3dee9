"""One command's streams through the engine's exec API (dockerd, podman).

`POST /exec/{id}/start` answers `101 UPGRADED` and then carries the
command's stdin one way and its stdout/stderr the other, as frames of an
8-byte header (stream number, payload length) and the payload, on the same
connection. The HTTP client parses the response's headers through a buffered
reader, which reads whatever has arrived: when the command's first frames
arrive together with the headers, they sit in that buffer. docker-py reads
the frames from the raw socket beneath it (docker/docker-py#3332) and loses
them: `rc=0, out=b''`. Here the frames are read through that buffered reader,
as the Docker CLI does (moby client/hijack.go reads its bufio.Reader).

stdin is sent by a thread of its own while the output is read, so neither
side waits for the other: bytes at once, or a file (such as the `harness
exec` command's own stdin) as it comes. The stream ends when the command
exits, whether or not its stdin has ended.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
from typing import BinaryIO

#: a frame's header: stream (0 stdin, 1 stdout, 2 stderr), 3 bytes zero, payload length
FRAME_HEADER = struct.Struct(">BxxxL")
STDERR = 2


class ExecStream:
    """The attached streams of one started exec: `send(input)`, then `output()`."""

    def __init__(self, api, exec_id: str, timeout: float | None):
        response = api._post_json(
            api._url("/exec/{0}/start", exec_id), data={"Detach": False, "Tty": False},
            headers={"Connection": "Upgrade", "Upgrade": "tcp"}, stream=True)
        # docker-py's way to the connection of each transport (unix, tcp, TLS,
        # ssh); raises the engine's error for a refused start
        sock = api._get_raw_response_socket(response)
        self._response = response  # a TLS socket closes when its response is collected
        self.sock = getattr(sock, "_sock", sock)  # under a SocketIO, the socket itself
        # the reader that parsed the headers: it holds what came with them
        self.reader = response.raw._fp.fp
        # a silent command may run longer than the API's timeout (`harness exec`)
        self.sock.settimeout(timeout)

    def send(self, data: bytes | BinaryIO | None) -> None:
        """Send the command's stdin in a daemon thread: bytes, or a file read
        until its end (its end may never come, as for a terminal left open:
        the thread then ends with this process)."""
        if data is None:
            return
        threading.Thread(target=self._send, args=(data,), name="exec stdin",
                         daemon=True).start()

    def _send(self, data: bytes | BinaryIO) -> None:
        try:
            if isinstance(data, bytes):
                self.sock.sendall(data)
            else:
                while chunk := os.read(data.fileno(), 65536):
                    self.sock.sendall(chunk)
            self.sock.shutdown(socket.SHUT_WR)  # the command reads its end of input
        except OSError:
            pass  # the command has exited and the connection is closed: nothing reads stdin

    def output(self) -> tuple[bytes, bytes]:
        """stdout and stderr, read until the command has exited."""
        out, err = bytearray(), bytearray()
        try:
            while header := self.reader.read(FRAME_HEADER.size):
                if len(header) < FRAME_HEADER.size:
                    raise ConnectionError(f"exec stream cut inside a frame header ({header!r})")
                stream, length = FRAME_HEADER.unpack(header)
                payload = self.reader.read(length)
                if len(payload) < length:
                    raise ConnectionError(f"exec stream cut inside a frame ({len(payload)} "
                                          f"of {length} bytes)")
                (out if stream < STDERR else err).extend(payload)  # 3: the engine's own error
        finally:
            self.close()
        return bytes(out), bytes(err)

    def close(self) -> None:
        self._response.close()  # the reader, then the connection
        self.sock.close()
