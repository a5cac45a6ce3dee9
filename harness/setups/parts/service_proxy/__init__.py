"""The service proxy: ClusterIPs carry traffic to the pods
(proxy.py, the stand-in for kube-proxy), on the hosts each seed runs
kube-proxy on (the roles are in the recipe)."""
from __future__ import annotations

from harness.setups.parts import declares

from harness.setups.parts.service_proxy.proxy import ServiceProxy

@declares(needs=("dns",), provides=("service_proxy",))
def apply(lab, target, roles: frozenset[str]) -> None:
    """The proxy on every host with one of `roles` (where the seed runs kube-proxy)."""
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    # ClusterIPs are allocated by the cluster DNS (target.dns)
    target.provide("service_proxy", ServiceProxy(hosts), "service-proxy")
