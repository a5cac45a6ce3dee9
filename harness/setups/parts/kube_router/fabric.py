"""What suites ask of kube-router's BGP (`target.bgp`), as of the stand-in's:
the router's routes come from BIRD (proto bird), a node's from kube-router,
which installs what GoBGP learned with protocol number 17 (zebra)."""
from __future__ import annotations

import ipaddress

from kubernetes import client

from harness.setups.parts.pod_network.bgp import BgpFabric, kernel_routes

#: kube-router's netlink protocol for the routes it injects (0x11; iproute2 here has no name for it)
KUBE_ROUTER_PROTO = "17"


def pod_blocks(cluster) -> dict[str, list[str]]:
    """node -> its podCIDRs, as the controller-manager allocated them."""
    return {n.metadata.name: list(n.spec.pod_cidrs or ())
            for n in client.CoreV1Api(cluster.api).list_node().items}


class KubeRouterFabric(BgpFabric):
    def __init__(self, lab, cluster, speakers, router: str, blocks, hold_time: int):
        self.cluster = cluster
        super().__init__(lab, speakers, router, blocks, hold_time)
        self.pod_cidr = ipaddress.ip_network(cluster.pod_cidr)
        self.service_cidr = ipaddress.ip_network(cluster.service_cidr)

    @property
    def blocks(self) -> dict[str, list[str]]:
        """node -> its pod blocks, as its Node has them now: a control plane
        wiped and joined again is a new Node, which may get another block."""
        current = pod_blocks(self.cluster)
        return {node: current.get(node, []) for node in self._nodes}

    @blocks.setter
    def blocks(self, blocks: dict[str, list[str]]) -> None:
        self._nodes = list(blocks)

    def _routes(self, host: str) -> dict[str, str]:
        proto = "bird" if host == self.router else KUBE_ROUTER_PROTO
        return kernel_routes(self.lab.host(host).routes(6, "proto", proto))

    def kernel_routes(self, host: str) -> dict[str, str]:
        """pod block -> next hop in `host`'s kernel, as BGP installed it."""
        return {p: hop for p, hop in self._routes(host).items()
                if ipaddress.ip_network(p).subnet_of(self.pod_cidr)}

    def service_routes(self) -> dict[str, str]:
        """Service IP prefix -> next hop on the router."""
        return {p: hop for p, hop in self._routes(self.router).items()
                if ipaddress.ip_network(p).subnet_of(self.service_cidr)}
