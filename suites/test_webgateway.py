"""The k3s webgateway and datastore (seed 001): nginx on the frontend
terminates TLS (forceSSL: HTTP redirects to HTTPS) in front of HAProxy on
127.0.0.1:8000; PostgreSQL on the server admits the server and refuses the
agents and the frontend."""
from __future__ import annotations

import shlex

import pytest

from harness.lab.wait import wait_until



def curl(gw, scheme: str, path: str = "/", *extra: str) -> str:
    port = 443 if scheme == "https" else 80
    addr = gw.addresses[0]
    return shlex.join(["curl", "-sS", "-m", "5", "--cacert", gw.cert_path,
                       "--resolve", f"{gw.vhost}:{port}:{addr}", *extra, f"{scheme}://{gw.vhost}{path}"])


@pytest.mark.requires("webgateway")
def test_http_redirects_to_https(target):
    gw = target.webgateway
    out = gw.host.succeed(curl(gw, "http", "/some/path?q=1",
                               "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"))
    assert out == f"301 https://{gw.vhost}/some/path?q=1"


@pytest.mark.requires("webgateway")
def test_https_uses_the_setups_certificate_for_the_vhost(target):
    gw = target.webgateway
    # verification against the setup's own certificate, for the vhost's name
    result = gw.host.run(curl(gw, "https", "/", "-o", "/dev/null", "-w", "%{ssl_verify_result}"))
    assert result.stdout == "0", result.summary()
    subject = gw.host.succeed(shlex.join(["openssl", "x509", "-noout", "-subject", "-in", gw.cert_path]))
    assert gw.vhost in subject


@pytest.mark.requires("webgateway")
def test_the_running_nginx_serves_the_vhost_with_tls_on_the_public_addresses(target):
    """What nginx really runs (its master's own command line and the config
    that names), not what a file on disk says."""
    gw = target.webgateway
    master = gw.host.succeed("for p in $(pgrep -x nginx); do "
                             "ps -o args= -p $p; done | grep 'master process'")
    config = master.split(" -c ", 1)[1].split()[0] if " -c " in master else "/etc/nginx/nginx.conf"
    running = gw.host.succeed(shlex.join(["nginx", "-T", "-q", "-c", config]))
    assert f"server_name {gw.vhost};" in running, f"{config} does not serve {gw.vhost}"
    for addr in gw.addresses:
        listen = f"[{addr}]" if ":" in addr else addr
        assert f"listen {listen}:443 ssl" in running, f"no TLS listen on {addr} in {config}"


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
def test_https_through_the_frontend_reaches_the_pods(target, myapp):
    """Scenario 1: nginx terminates TLS, HAProxy on 127.0.0.1:8000 balances
    over the pods: every pod answers, and only pods answer."""
    gw = target.webgateway
    names = {p.name for p in myapp.pods}
    assert answers(gw.host, curl(gw, "https", "/", "-f"), 6) == names


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
