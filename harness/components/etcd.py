"""etcd per setup: seed 003's single member on the master (holding flannel's
network config), seed 004's three-member TLS cluster on the control planes."""
from __future__ import annotations

import json
import secrets

from harness.etcd_cluster import PKI_DIR, EtcdCluster, Member
from harness.pki import CertificateAuthority
from harness.setups import CONTROL_PLANE_ROLES

NAME = "etcd"
ORDER = 10
SETUPS = {"centos-hardway", "kubeadm-ha"}

#: seed 003: "The config is stored in etcd at /atomic.io/network/config"
FLANNEL_CONFIG_KEY = "/atomic.io/network/config"
FLANNEL_CONFIG = {"Network": "10.241.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan", "VNI": 1}}


def install_pki(members: list[Member]) -> None:
    ca = CertificateAuthority("etcd-ca")
    for m in members:
        cert, key = ca.issue(m.name, ips=[m.ip, "::1", "127.0.0.1"], dns_names=[m.name, "localhost"])
        m.host.put_file(f"{PKI_DIR}/ca.crt", ca.cert_pem)
        m.host.put_file(f"{PKI_DIR}/server.crt", cert)
        m.host.put_file(f"{PKI_DIR}/server.key", key, mode=0o600)


def apply(lab, target, steps) -> None:
    topology = lab.topology
    hosts = [h for h in lab.hosts.values() if set(h.roles) & CONTROL_PLANE_ROLES]
    tls = topology.setup == "kubeadm-ha"
    family = "ipv6" if tls else "ipv4"
    members = [Member(h.name, h, h.address(family=family), "https" if tls else "http") for h in hosts]
    if tls:
        install_pki(members)
    cluster = EtcdCluster(members, tls, token=f"etcd-{lab.id}-{secrets.token_hex(2)}")
    for m in members:
        cluster.define(m.name)
    cluster.wait_healthy()
    caps = ["etcd"] + (["etcd-tls"] if tls else []) + (["etcd-quorum"] if len(members) >= 3 else [])
    if topology.setup == "centos-hardway":
        cluster.put(FLANNEL_CONFIG_KEY, json.dumps(FLANNEL_CONFIG))
        caps.append("flannel-config")
    target.provide("etcd", cluster, *caps)
