"""The way the harness reaches what listens only inside a lab: Host.connect
opens a connection from inside a host's network namespace, a Tunnel splices
a loopback port of the harness to such connections, and both end with the
lab, leaving no thread and no listening socket."""
import socket
import threading
from types import SimpleNamespace

import pytest

from harness.lab.tunnel import Tunnel
from harness.lab.wait import wait_until
from harness.setups.parts.kubernetes import api as k8s_api
from tests.conftest import refused, tunnel_threads

PEER_PORT = 7000


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def echo_server():
    """An echo server on loopback: sends back what it got once the client has
    finished sending, then closes. Yields its port and the number of
    connections it has accepted so far."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            with conn:
                conn.sendall(read_all(conn))
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() (Linux)
    thread.join(5)
    server.close()


def test_a_tunnel_splices_both_ways_passes_half_closes_and_closes_cleanly(echo_server):
    port, accepted = echo_server
    tunnel = Tunnel(lambda: socket.create_connection(("127.0.0.1", port)), "echo")
    try:
        payload = bytes(range(256)) * 1000
        with socket.create_connection(("127.0.0.1", tunnel.port), timeout=10) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)   # the echo server answers after EOF
            assert read_all(sock) == payload
        idle = socket.create_connection(("127.0.0.1", tunnel.port), timeout=10)
        # spliced through to the server, not still in the listener's backlog
        # (which closing the listener resets)
        wait_until(lambda: len(accepted) == 2, "the idle connection to reach the echo server", 10)
    finally:
        tunnel.close()
    assert idle.recv(1) == b"", "an open connection ends with the tunnel"
    idle.close()
    assert tunnel_threads("echo") == []
    assert refused(tunnel.port)


def test_a_failed_upstream_connection_closes_the_client_side():
    def unreachable():
        raise ConnectionRefusedError("nothing there")
    tunnel = Tunnel(unreachable, "nowhere")
    try:
        with socket.create_connection(("127.0.0.1", tunnel.port), timeout=10) as sock:
            assert sock.recv(1) == b""
    finally:
        tunnel.close()
    assert tunnel_threads("nowhere") == []


def test_host_connect_is_made_inside_the_host_and_the_tunnel_ends_with_the_lab(netns, two_hosts):
    lab = netns.create(two_hosts)
    try:
        master, node = lab.host("master"), lab.host("node1")
        # answers each connection with the address it came from
        node.service("peer").define(["socat", f"TCP-LISTEN:{PEER_PORT},fork,reuseaddr",
                                     "SYSTEM:echo $SOCAT_PEERADDR"])
        node.wait_for_port(PEER_PORT)
        with master.connect(node.address("srv"), PEER_PORT) as sock:
            assert read_all(sock).decode().strip() == master.address("srv")
        tunnel = Tunnel(lambda: master.connect(node.address("srv"), PEER_PORT), "master to node1")
        lab.on_close(tunnel.close)
        with socket.create_connection(("127.0.0.1", tunnel.port), timeout=10) as sock:
            assert read_all(sock).decode().strip() == master.address("srv")
        assert tunnel_threads("master to node1")
    finally:
        lab.destroy()
    assert tunnel_threads("master to node1") == []
    assert refused(tunnel.port)


def test_a_provisioner_without_connect_is_named():
    lab = SimpleNamespace(provisioner=SimpleNamespace(name="libvirt", capabilities=frozenset()))
    with pytest.raises(k8s_api.NoConnect, match="provisioner libvirt lacks .*'connect'"):
        k8s_api.connect(lab, None, "192.0.2.1", None)
