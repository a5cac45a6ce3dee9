"""The frontend: HAProxy on the frontend host following pods through the
cluster DNS (seed 000's kubernetes-frontend role, seed 001's webgateway
HAProxy). Listens are added by `target.frontend.configure(name, **options)`
with seed 001's option names; the component starts HAProxy with none."""
from __future__ import annotations

from harness.setups.parts import declares

from harness.setups.parts.frontend.haproxy import HAProxyFrontend



@declares(needs=("dns_server",), provides=("frontend",), only_with_role="frontend")
def apply(lab, target) -> None:
    hosts = [h for h in lab.hosts.values() if "frontend" in h.roles]
    frontend = HAProxyFrontend(hosts[0], target.dns_server)
    frontend.apply({})
    target.provide("frontend", frontend, "haproxy", "frontend")
