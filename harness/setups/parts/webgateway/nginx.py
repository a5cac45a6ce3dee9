"""The webgateway's nginx (seed 001, scenario 1): virtual host
`myapp.example.com` with `forceSSL = true` and
`locations."/".proxyPass = "http://127.0.0.1:8000"`, where HAProxy listens.

forceSSL means: plain HTTP answers with a redirect to HTTPS, HTTPS is served
with the vhost's certificate. The platform gets certificates from Let's
Encrypt; a lab cannot, so the setup makes a self-signed one.
"""
from __future__ import annotations

CONFIG_PATH = "/etc/nginx/harness.conf"
TLS_DIR = "/etc/nginx/tls"
CERT = f"{TLS_DIR}/cert.pem"
KEY = f"{TLS_DIR}/key.pem"
#: seed 001's example
DEFAULT_VHOST = "myapp.example.com"
UPSTREAM = "http://127.0.0.1:8000"


def self_signed_cert_command(vhost: str, days: int = 365) -> str:
    return (f"install -d -m 0700 {TLS_DIR} && openssl req -x509 -newkey rsa:2048 -nodes "
            f"-days {days} -subj /CN={vhost} -addext subjectAltName=DNS:{vhost} "
            f"-keyout {KEY} -out {CERT} 2>/dev/null && chmod 0600 {KEY}")


def listen(addresses: list[str], port: int, ssl: bool = False) -> str:
    suffix = " ssl" if ssl else ""
    return "".join(f"        listen {'[' + a + ']' if ':' in a else a}:{port}{suffix};\n"
                   for a in addresses)


def config(vhost: str, addresses: list[str], upstream: str = UPSTREAM) -> str:
    """nginx.conf for the vhost on the public (FE) addresses, in the foreground."""
    return f"""\
# nginx for the webgateway role, written by the harness
daemon off;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {{ worker_connections 256; }}
http {{
    access_log /var/log/nginx/access.log;
    server {{
{listen(addresses, 80)}        server_name {vhost};
        # forceSSL
        location / {{ return 301 https://$host$request_uri; }}
    }}
    server {{
{listen(addresses, 443, ssl=True)}        server_name {vhost};
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""
