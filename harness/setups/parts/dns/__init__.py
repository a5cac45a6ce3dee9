"""Cluster DNS: BIND serving cluster.local (stands in for CoreDNS / kube-dns,
which cannot run here), the resolver of every Kubernetes host and the frontend.

It runs on the (first) control-plane host, where kube-dns' pods would be
reachable from every Kubernetes host in the seeds' setups.
"""
from __future__ import annotations

from harness.setups.parts import declares

from harness.lab.resolver import resolver

from harness.setups.parts.dns.server import ClusterDNS
from harness.model.setups import CONTROL_PLANE_ROLES, KUBERNETES_ROLES



@declares(provides=("dns", "dns_server", "resolve"))
def apply(lab, target) -> None:
    topology = lab.topology
    server = next(h for h in lab.hosts.values() if set(h.roles) & CONTROL_PLANE_ROLES)
    family = "ipv4" if "ipv4" in topology.families else "ipv6"
    dns = ClusterDNS(server, server.address(family=family), topology.service_cidrs[0])
    dns.start(v4="ipv4" in topology.families, v6="ipv6" in topology.families)
    for host in lab.hosts.values():
        if set(host.roles) & KUBERNETES_ROLES:
            dns.use_as_resolver(host)
    target.provide("dns", dns, "dns")
    target.provide("dns_server", dns.address)
    target.provide("resolve", resolver(["ipv4" if c.version == 4 else "ipv6"
                                        for c in topology.pod_cidrs]))
