"""The webgateway's nginx on the k3s frontend (seed 001 scenario 1), via
nginx.py: a certificate from a CA of its own (harness/setups/pki.py), the config checked
with `nginx -t`, nginx in the foreground under supervisord, listening on the
frontend's public (FE) addresses. HAProxy behind it on 127.0.0.1:8000, and
scenario 2's tcp-mode pass-through, come from the frontend component."""
from __future__ import annotations

from harness.setups.parts import declares

import shlex
from dataclasses import dataclass

from harness.setups.parts.webgateway import nginx as wg
from harness.setups.pki import Certificate, Pki

PUBLIC_NETWORK = "fe"


@dataclass(frozen=True)
class Webgateway:
    host: object
    vhost: str
    addresses: list
    cert_pem: str
    #: where the host keeps the chain nginx serves
    cert_path: str
    #: the CA that issued the vhost's certificate: all a client may trust
    ca_pem: str


@declares(provides=("webgateway",), only_with_role="frontend")
def apply(lab, target) -> None:
    host = lab.with_role("frontend")[0]
    vhost = lab.topology.options.get("webgateway_vhost", wg.DEFAULT_VHOST)
    addresses = [str(a) for a in host.spec.addresses.get(PUBLIC_NETWORK, {}).values()] \
        or [host.address()]
    ca = Pki(f"{vhost} webgateway CA")
    cert, key = ca.issue(Certificate("webgateway", vhost, "server", hosts=(vhost,)))
    host.succeed(shlex.join(["install", "-d", "-m", "0700", wg.TLS_DIR]))
    host.put_file(wg.KEY, key, mode=0o600)
    host.put_file(wg.CERT, cert + ca.ca)  # the chain nginx serves
    host.put_file(wg.CONFIG_PATH, wg.config(vhost, addresses))
    host.succeed("mkdir -p /var/log/nginx && " + shlex.join(["nginx", "-t", "-q", "-c", wg.CONFIG_PATH]))
    host.service("nginx").define(["nginx", "-c", wg.CONFIG_PATH])
    for port in (80, 443):
        host.wait_for_port(port, timeout=30)
    target.provide("webgateway", Webgateway(host, vhost, addresses,
                                            host.get_file(wg.CERT).decode(), wg.CERT, ca.ca.decode()),
                   "webgateway", "tls")
