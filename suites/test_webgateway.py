"""The k3s webgateway and datastore (seed 001): nginx on the frontend
terminates TLS (forceSSL: HTTP redirects to HTTPS) in front of HAProxy on
127.0.0.1:8000; PostgreSQL on the server admits the server and refuses the
agents and the frontend."""
from __future__ import annotations

import pytest

from harness.setups import WORKER_ROLES


def curl(gw, scheme: str, path: str = "/", extra: str = "") -> str:
    port = 443 if scheme == "https" else 80
    addr = gw.addresses[0]
    return (f"curl -sS -m 5 --cacert /etc/nginx/tls/cert.pem --resolve {gw.vhost}:{port}:{addr} "
            f"{extra} {scheme}://{gw.vhost}{path}")


@pytest.mark.requires("webgateway")
def test_http_redirects_to_https(target):
    gw = target.webgateway
    out = gw.host.succeed(curl(gw, "http", "/some/path?q=1",
                               "-o /dev/null -w '%{http_code} %{redirect_url}'"))
    assert out == f"301 https://{gw.vhost}/some/path?q=1"


@pytest.mark.requires("webgateway")
def test_https_uses_the_setups_certificate_for_the_vhost(target):
    gw = target.webgateway
    # verification against the setup's own certificate, for the vhost's name
    result = gw.host.run(curl(gw, "https", extra="-o /dev/null -w '%{ssl_verify_result}'"))
    assert result.stdout == "0", result.summary()
    subject = gw.host.succeed("openssl x509 -noout -subject -in /etc/nginx/tls/cert.pem")
    assert gw.vhost in subject


@pytest.mark.requires("webgateway")
def test_nginx_config_passes_nginx_t(target):
    target.webgateway.host.succeed("nginx -t -q -c /etc/nginx/harness.conf")


@pytest.mark.requires("webgateway", "haproxy", "workloads")
def test_https_through_the_frontend_reaches_the_pods(target):
    gw = target.webgateway
    out = gw.host.succeed(curl(gw, "https"))
    assert out.strip(), "empty answer through nginx and HAProxy"


@pytest.mark.requires("datastore")
def test_datastore_accepts_the_server(target):
    store = target.datastore
    result = store.query(store.host, "select current_user")
    assert result.ok, result.summary()
    assert result.stdout.strip() == "k3s"


@pytest.mark.requires("datastore")
def test_datastore_refuses_agents_and_frontend(lab, target):
    store = target.datastore
    others = [h for h in lab.hosts.values() if set(h.roles) & (WORKER_ROLES | {"frontend"})]
    assert others
    for host in others:
        result = store.query(host, "select 1")
        assert not result.ok, f"{host.name} reached the datastore: {result.stdout!r}"
        assert "rejects connection" in result.stderr, result.summary()
