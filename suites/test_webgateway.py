"""The k3s webgateway and datastore (seed 001): nginx on the frontend
terminates TLS (forceSSL: HTTP redirects to HTTPS) in front of HAProxy on
127.0.0.1:8000; PostgreSQL on the server admits the server and refuses the
agents and the frontend."""
from __future__ import annotations

import shlex

import pytest

from harness.lab.net import bracketed
from harness.lab.wait import wait_until

#: where a client on the frontend keeps the one certificate it trusts: the CA's
CA_FILE = "/tmp/webgateway-ca.pem"


def curl(gw, scheme: str, addr: str, path: str = "/", *extra: str) -> str:
    """curl of the vhost at one public address, trusting the CA only."""
    port = 443 if scheme == "https" else 80
    return shlex.join(["curl", "-sS", "-m", "5", "--cacert", CA_FILE,
                       "--resolve", f"{gw.vhost}:{port}:{bracketed(addr)}", *extra,
                       f"{scheme}://{gw.vhost}{path}"])


@pytest.fixture(scope="module")
def gw(target):
    gateway = target.webgateway
    gateway.host.put_file(CA_FILE, gateway.ca_pem)
    return gateway


@pytest.mark.requires("webgateway")
def test_http_redirects_to_https_on_every_public_address(gw):
    for addr in gw.addresses:
        out = gw.host.succeed(curl(gw, "http", addr, "/some/path?q=1",
                                   "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"))
        assert out == f"301 https://{gw.vhost}/some/path?q=1", f"on {addr}: {out}"


@pytest.mark.requires("webgateway")
def test_every_public_address_serves_the_vhost_a_certificate_of_the_ca(gw):
    """What nginx serves (openssl s_client with SNI on each address), verified
    against the setup's CA only, for the vhost's name; the subject and names
    are read from the certificate served, not from a file."""
    for addr in gw.addresses:
        handshake = gw.host.run(shlex.join([
            "openssl", "s_client", "-connect", f"{bracketed(addr)}:443", "-servername", gw.vhost,
            "-CAfile", CA_FILE, "-verify_hostname", gw.vhost, "-verify_return_error"]), input="")
        assert handshake.ok and "Verify return code: 0 (ok)" in handshake.stdout, \
            f"TLS on {addr}: {handshake.summary()}"
        served = gw.host.run("openssl x509 -noout -subject -ext subjectAltName", input=handshake.stdout)
        assert served.ok and f"CN = {gw.vhost}" in served.stdout and f"DNS:{gw.vhost}" in served.stdout, \
            f"served on {addr}: {served.summary()}"


@pytest.fixture(scope="module")
def myapp(target):
    """Seed 001 scenario 1: a headless service on pod port 8888 and
    `flyingcircus.kubernetes.frontend.myapp = { binds = [ "127.0.0.1:8000" ]; podPort = 8888; }`."""
    workload = target.workload("myapp", port=8888, headless=True)
    target.frontend.configure("myapp", binds=["127.0.0.1:8000"], podPort=8888)
    workload.scale(2)
    wait_until(lambda: target.frontend.up_addresses("myapp") == workload.pod_ips(),
               "HAProxy's myapp servers to be the pods", 10)
    yield workload
    target.frontend.remove("myapp")
    workload.scale(0)


def answers(host, command: str, count: int) -> set[str]:
    return {host.succeed(command).strip() for _ in range(count)}


@pytest.mark.requires("webgateway", "haproxy", "workloads")
def test_https_through_the_frontend_reaches_the_pods(gw, myapp):
    """Scenario 1: nginx terminates TLS, HAProxy on 127.0.0.1:8000 balances
    over the pods: every pod answers, and only pods answer, on every address."""
    names = {p.name for p in myapp.pods}
    for addr in gw.addresses:
        assert answers(gw.host, curl(gw, "https", addr, "/", "-f"), 6) == names, f"on {addr}"


@pytest.mark.requires("webgateway", "haproxy", "workloads")
def test_tcp_pass_through_on_the_public_address(target, myapp):
    """Scenario 2's shape: HAProxy in tcp mode on the public FE address passes
    the stream through untouched. Seed 001 forwards to a LoadBalancer service
    port (lbServicePort); the lab has no LoadBalancer implementation (k3s's
    servicelb cannot run here), so the stream goes to the pods (podPort).
    Port 8443: nginx holds the FE address's 443."""
    gw = target.webgateway
    bind = gw.addresses[0]
    target.frontend.configure("myapp-tcp", binds=[f"{bind}:8443"], mode="tcp", podPort=8888,
                              serviceName="myapp")
    try:
        wait_until(lambda: target.frontend.up_addresses("myapp-tcp") == myapp.pod_ips(),
                   "HAProxy's tcp servers to be the pods", 10)
        names = {p.name for p in myapp.pods}
        assert answers(gw.host, shlex.join(["curl", "-sSf", "-m", "5", f"http://{bind}:8443/"]), 6) == names
    finally:
        target.frontend.remove("myapp-tcp")


@pytest.mark.requires("datastore")
def test_datastore_accepts_the_server(target):
    store = target.datastore
    result = store.query(store.host, "select current_user")
    assert result.ok, result.summary()
    assert result.stdout.strip() == "k3s"


@pytest.mark.requires("datastore")
def test_datastore_refuses_agents_and_frontend(lab, target):
    store = target.datastore
    others = target.workers + [h for h in target.hosts if "frontend" in h.roles]
    assert others
    for host in others:
        result = store.query(host, "select 1")
        assert not result.ok, f"{host.name} reached the datastore: {result.stdout!r}"
        assert "rejects connection" in result.stderr, result.summary()
