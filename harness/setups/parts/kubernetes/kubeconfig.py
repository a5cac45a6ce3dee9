"""Kubeconfig files: client certificate or token, the cluster's CA, one
context. Written as data (yaml.safe_dump), never by string pasting."""
from __future__ import annotations

import base64

import yaml


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def render_files(server: str, ca_path: str, user: str, cert_path: str, key_path: str,
                 cluster: str = "kubernetes") -> str:
    """A kubeconfig naming the CA, certificate and key files on its host (as
    the NixOS module writes them: certmgr renews the files in place)."""
    return _config(server, {"certificate-authority": ca_path}, user,
                   {"client-certificate": cert_path, "client-key": key_path}, cluster)


def render_files_token(server: str, ca_path: str, user: str, token: str,
                       cluster: str = "kubernetes") -> str:
    """A kubeconfig naming the CA file on its host, with a bearer token."""
    return _config(server, {"certificate-authority": ca_path}, user, {"token": token}, cluster)


def render(server: str, ca: bytes, user: str, cert: bytes | None = None,
           key: bytes | None = None, token: str | None = None, cluster: str = "kubernetes") -> str:
    credentials: dict = {}
    if cert is not None:
        credentials["client-certificate-data"] = _b64(cert)
        credentials["client-key-data"] = _b64(key)
    if token is not None:
        credentials["token"] = token
    return _config(server, {"certificate-authority-data": _b64(ca)}, user, credentials, cluster)


def _config(server: str, trust: dict, user: str, credentials: dict, cluster: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, **trust}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }, sort_keys=False)
