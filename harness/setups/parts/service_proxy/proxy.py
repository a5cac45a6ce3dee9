"""A STAND-IN for kube-proxy in iptables mode, for the setups that do not run
real Kubernetes components yet (fcio-k8s runs the real kube-proxy instead).

Seed 000: "Every VM with a Kubernetes role runs a kube-proxy that sets up
iptables rules that allows access of Kubernetes services via their Service
IP ... The kube-proxy provides load-balancing if there are multiple pods
running behind a service." This programs the same kind of rules that
kube-proxy's iptables mode does, in every Kubernetes host: a chain
HARNESS-SERVICES jumped to from nat OUTPUT (the host's own connections) and
PREROUTING (its pods' connections), one rule per ClusterIP and port into a
per-service chain that DNATs to one endpoint, chosen at random with
`-m statistic` probabilities 1/n, 1/(n-1), ... 1 as kube-proxy chooses.

The lab hosts have no default route (nothing may leave the lab), so each
ClusterIP also gets a host route along the path to its first endpoint (the
source address is then one the pods can answer); a service without
endpoints gets an `unreachable` route, refused at once, as kube-proxy's
REJECT rule does.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.lab import templates
from harness.lab.collectors import Collector
from harness.lab.timeline import on_hosts

if TYPE_CHECKING:
    from harness.lab.host import Host

PART_DIR = Path(__file__).parent
CHAIN = "HARNESS-SERVICES"
ENTRY_HOOKS = ("OUTPUT", "PREROUTING")
COLLECTORS = [Collector(
    "service-proxy-rules.txt",
    f"iptables -t nat -S {CHAIN}; iptables -t nat -S | grep HARNESS-SVC; "
    "ip6tables -t nat -S 2>/dev/null | grep HARNESS; ip route show table main; "
    "ip -6 route show table main",
    f"iptables -t nat -S {CHAIN} || ip6tables -t nat -S {CHAIN}")]


@dataclass(frozen=True)
class ServiceEndpoints:
    key: str  # namespace/name
    cluster_ip: str
    port: int
    endpoints: tuple[str, ...]  # pod IPs of the ClusterIP's family

    @property
    def chain(self) -> str:
        return "HARNESS-SVC-" + hashlib.sha256(self.key.encode()).hexdigest()[:12].upper()

    @property
    def ipv6(self) -> bool:
        return ipaddress.ip_address(self.cluster_ip).version == 6


def render_rules(services: list[ServiceEndpoints], ipv6: bool) -> str:
    """iptables-restore input (--noflush) for the nat table of one family."""
    return templates.render(PART_DIR, "nat-rules.j2", chain=CHAIN,
                            services=[s for s in services if s.ipv6 == ipv6],
                            host_prefix=128 if ipv6 else 32)


class ServiceProxy:
    """`set_service(...)` after every endpoint change, like kube-proxy's sync."""

    def __init__(self, hosts: list[Host]):
        self.hosts = hosts
        self.services: dict[str, ServiceEndpoints] = {}

    def set_service(self, key: str, cluster_ip: str, port: int, pod_ips: list[str]) -> None:
        family = ipaddress.ip_address(cluster_ip).version
        endpoints = tuple(ip for ip in pod_ips if ipaddress.ip_address(ip).version == family)
        service = ServiceEndpoints(key, cluster_ip, port, endpoints)
        if self.services.get(key) == service:
            return
        self.services[key] = service
        on_hosts(self.hosts, lambda host: self._sync(host, service))

    def _sync(self, host: Host, changed: ServiceEndpoints) -> None:
        services = list(self.services.values())
        families = [{"tool": tool, "rules": render_rules(services, ipv6)}
                    for ipv6, tool in ((False, "iptables"), (True, "ip6tables"))
                    if any(s.ipv6 == ipv6 for s in services)]
        host.succeed(templates.render(PART_DIR, "sync.sh.j2", families=families, hooks=ENTRY_HOOKS,
                                      chain=CHAIN, route=shlex.join(["ip", "route", "replace",
                                                                     *self._route(host, changed)])))

    @staticmethod
    def _route(host: Host, service: ServiceEndpoints) -> list[str]:
        """The ClusterIP's host route on this host: along the path to its
        first endpoint, or unreachable without endpoints."""
        prefix = 128 if service.ipv6 else 32
        if not service.endpoints:
            return ["unreachable", f"{service.cluster_ip}/{prefix}"]
        [path] = json.loads(host.succeed(shlex.join(["ip", "-j", "route", "get", service.endpoints[0]])))
        # the gateway is on the link by construction (the kernel chose it);
        # `onlink` says so where the link has no subnet of it (flannel's vxlan)
        via = ["via", path["gateway"], "onlink"] if path.get("gateway") else []
        src = ["src", path["prefsrc"]] if path.get("prefsrc") else []
        return [f"{service.cluster_ip}/{prefix}", *via, "dev", path["dev"], *src]
