"""The webgateway's nginx (seed 001, scenario 1): virtual host
`myapp.example.com` with `forceSSL = true` and
`locations."/".proxyPass = "http://127.0.0.1:8000"`, where HAProxy listens.

forceSSL means: plain HTTP answers with a redirect to HTTPS, HTTPS is served
with the vhost's certificate. The platform gets certificates from Let's
Encrypt; a lab cannot, so the setup makes one with its own CA
(harness/setups/pki.py); CERT holds the vhost's certificate, then the CA's.
"""
from __future__ import annotations

from pathlib import Path

from harness.lab import templates
from harness.lab.collectors import VersionProbe

CONFIG_PATH = "/etc/nginx/harness.conf"
VERSION_PROBES = [VersionProbe("nginx", "nginx", "nginx -v 2>&1")]
TLS_DIR = "/etc/nginx/tls"
CERT = f"{TLS_DIR}/cert.pem"
KEY = f"{TLS_DIR}/key.pem"
#: seed 001's example
DEFAULT_VHOST = "myapp.example.com"
UPSTREAM = "http://127.0.0.1:8000"


def config(vhost: str, addresses: list[str], upstream: str = UPSTREAM) -> str:
    """nginx.conf for the vhost on the public (FE) addresses, in the foreground."""
    return templates.render(Path(__file__).parent, "nginx.conf.j2", vhost=vhost, addresses=addresses,
                            upstream=upstream, cert=CERT, key=KEY)
