"""etcd, one part for every setup, on our etcd 3.6 build (harness artifacts):
one member on each host of `roles`, peers and clients on `family`.

- seed 003 (centos-hardway): one member on the master, plain HTTP, listening
  on all addresses and advertising the master's ("ETCD_LISTEN_CLIENT_URLS=
  http://0.0.0.0:2379"), holding flannel's network config;
- seeds 000/002 (the NixOS module): one member on the master for its
  apiserver, TLS with the cluster CA, on loopback only;
- seed 004 (kubeadm-ha): a member per control plane, client and peer TLS
  with the certificates under /etc/kubernetes/pki/etcd, IPv6.

`plain` and `tls` are the two entry points; `tls` needs the recipe's PKI.
"""
from __future__ import annotations

from harness.model.setups import CONTROL_PLANE_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.etcd.cluster import PKI_DIR, EtcdCluster, Member
from harness.setups.pki import Certificate

LISTEN = ("all", "loopback")


def _members(lab, roles, family: str, listen: str, scheme: str) -> list[Member]:
    if listen not in LISTEN:
        raise ValueError(f"etcd listen {listen!r} is not one of {LISTEN}")
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    if listen == "loopback" and len(hosts) != 1:
        raise ValueError(f"etcd on loopback has one member, not {len(hosts)}")
    return [Member(h.name, h, "127.0.0.1" if listen == "loopback" else h.address(family=family), scheme)
            for h in hosts]


def _start(lab, target, members: list[Member], tls: bool) -> None:
    for m in members:
        host_binaries.link(m.host, ["etcd"])
    # the lab's own token: a lab attached again defines its members unchanged
    cluster = EtcdCluster(members, tls, token=f"etcd-{lab.id}")
    for m in members:
        cluster.define(m.name)
    cluster.wait_healthy()
    caps = ["etcd"] + (["etcd-tls"] if tls else []) + (["etcd-quorum"] if len(members) >= 3 else [])
    target.provide("etcd", cluster, *caps)


@declares(provides=("etcd",))
def plain(lab, target, roles=CONTROL_PLANE_ROLES, family: str = "ipv4", listen: str = "all") -> None:
    """Members without TLS (seed 003's etcd.conf)."""
    _start(lab, target, _members(lab, roles, family, listen, "http"), tls=False)


@declares(needs=("pki",), provides=("etcd",))
def tls(lab, target, roles=CONTROL_PLANE_ROLES, family: str = "ipv4", listen: str = "all") -> None:
    """Members with client and peer TLS, certificates from the recipe's CA
    (a client needs one the CA signed: `--client-cert-auth`)."""
    members = _members(lab, roles, family, listen, "https")
    for m in members:
        cert, key = target.pki.issue(Certificate(
            f"etcd-{m.name}", m.name, "peer", hosts=(m.ip, "::1", "127.0.0.1", m.name, "localhost")))
        m.host.put_file(f"{PKI_DIR}/ca.crt", target.pki.ca)
        m.host.put_file(f"{PKI_DIR}/server.crt", cert)
        m.host.put_file(f"{PKI_DIR}/server.key", key, mode=0o600)
    _start(lab, target, members, tls=True)
