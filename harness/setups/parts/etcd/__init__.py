"""etcd per setup: seed 003's single member on the master (holding flannel's
network config), seed 004's three-member TLS cluster on the control planes."""
from __future__ import annotations

import secrets

from harness.setups.parts.etcd.cluster import PKI_DIR, EtcdCluster, Member
from harness.setups.pki import CertificateAuthority
from harness.model.setups import CONTROL_PLANE_ROLES


def install_pki(members: list[Member]) -> None:
    ca = CertificateAuthority("etcd-ca")
    for m in members:
        cert, key = ca.issue(m.name, ips=[m.ip, "::1", "127.0.0.1"], dns_names=[m.name, "localhost"])
        m.host.put_file(f"{PKI_DIR}/ca.crt", ca.cert_pem)
        m.host.put_file(f"{PKI_DIR}/server.crt", cert)
        m.host.put_file(f"{PKI_DIR}/server.key", key, mode=0o600)


def apply(lab, target, tls: bool = False, family: str = "ipv4") -> None:
    """An etcd member on every control-plane host, peers and clients on
    `family`; with `tls`, certificates from a CA made here."""
    hosts = [h for h in lab.hosts.values() if set(h.roles) & CONTROL_PLANE_ROLES]
    members = [Member(h.name, h, h.address(family=family), "https" if tls else "http") for h in hosts]
    if tls:
        install_pki(members)
    cluster = EtcdCluster(members, tls, token=f"etcd-{lab.id}-{secrets.token_hex(2)}")
    for m in members:
        cluster.define(m.name)
    cluster.wait_healthy()
    caps = ["etcd"] + (["etcd-tls"] if tls else []) + (["etcd-quorum"] if len(members) >= 3 else [])
    target.provide("etcd", cluster, *caps)
