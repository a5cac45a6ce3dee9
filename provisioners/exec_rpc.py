"""supervisord's XML-RPC reached through Host.exec, for hosts whose socket
cannot be reached by path (a remote docker engine, a VM): each request is
relayed by a small Python program run inside the host."""
from __future__ import annotations

import xmlrpc.client
from typing import TYPE_CHECKING

from harness.lab.supervisor import SOCKET_PATH

if TYPE_CHECKING:
    from harness.lab.host import Host

#: runs inside a host: one XML-RPC request from stdin to supervisord's socket
RPC_RELAY = f"""
import socket, sys
body = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX)
s.connect({SOCKET_PATH!r})
s.sendall(b"POST /RPC2 HTTP/1.0\\r\\nContent-Type: text/xml\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
reply = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    reply += chunk
sys.stdout.buffer.write(reply.split(b"\\r\\n\\r\\n", 1)[1])
"""


class ExecTransport(xmlrpc.client.Transport):
    """XML-RPC to a host's supervisord, one `exec` per request."""

    def __init__(self, host: Host):
        super().__init__()
        self.lab_host = host

    def request(self, host, handler, request_body, verbose=False):
        result = self.lab_host.exec(["python3", "-c", RPC_RELAY], input=request_body, timeout=30)
        if not result.ok:
            raise ConnectionError(f"supervisord on {self.lab_host.name}: {result.summary()}")
        parser, unmarshaller = self.getparser()
        parser.feed(result.stdout.encode("utf-8", "surrogateescape"))
        parser.close()
        return unmarshaller.close()


def proxy(host: Host) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy("http://supervisord", transport=ExecTransport(host))
