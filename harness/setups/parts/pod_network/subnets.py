"""Per-node pod subnets carved from the cluster's pod CIDR.

Seed 001: "By default our setup uses a cluster network that allows 253 nodes
and 253 ports per node": an IPv4 pod CIDR is cut into /24s (one per node,
flannel's SubnetLen 24 in seed 003). IPv6 pod CIDRs are cut into /80s.
Subnet 0 is never handed out (flannel skips the network's first subnet too).
"""
from __future__ import annotations

import ipaddress
from itertools import islice

from harness.model.setups import CONTROL_PLANE_ROLES, WORKER_ROLES
from harness.model.topology import IPNetwork, Topology

PREFIX_LEN = {4: 24, 6: 80}


def pod_hosts(topology: Topology, roles=CONTROL_PLANE_ROLES | WORKER_ROLES) -> list[str]:
    return [h.name for h in topology.hosts.values() if set(h.roles) & roles]


def node_subnets(topology: Topology, roles=CONTROL_PLANE_ROLES | WORKER_ROLES
                 ) -> dict[str, list[IPNetwork]]:
    """host name -> its pod subnets (one per pod CIDR family), in topology order."""
    names = pod_hosts(topology, roles)
    out: dict[str, list[IPNetwork]] = {n: [] for n in names}
    for cidr in topology.pod_cidrs:
        subnets = islice(cidr.subnets(new_prefix=PREFIX_LEN[cidr.version]), 1, None)
        for name, subnet in zip(names, subnets):
            out[name].append(ipaddress.ip_network(subnet))
    return out
