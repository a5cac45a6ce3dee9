"""The pod network: each pod-hosting node's subnet reachable from every
Kubernetes host.

This first version builds the kernel routes a flannel host-gw backend
builds (a route to each node's pod subnet via that node's address on the
shared network) for every setup; setup-specific data planes (flannel vxlan,
Calico BGP) replace it per setup. It stands in for flanneld / calico-node,
which cannot run on this machine.
"""
from __future__ import annotations

from harness.podsubnets import node_subnets
from harness.setups import KUBERNETES_ROLES, SETUPS

NAME = "pod network"
ORDER = 20
SETUPS = set(SETUPS)


def shared_network(topology, a: str, b: str) -> str | None:
    nets_a, nets_b = topology.hosts[a].addresses, topology.hosts[b].addresses
    return next((n for n in nets_a if n in nets_b), None)


def apply(lab, target, steps) -> None:
    topology = lab.topology
    subnets = node_subnets(topology)
    for host in lab.hosts.values():
        if not set(host.roles) & KUBERNETES_ROLES:
            continue
        commands = []
        if host.name in subnets:
            commands += ["sysctl -qw net.ipv4.ip_forward=1", "sysctl -qw net.ipv6.conf.all.forwarding=1"]
        for node, node_subnets_ in subnets.items():
            net = shared_network(topology, host.name, node)
            if node == host.name or net is None:
                continue
            for subnet in node_subnets_:
                family = "ipv4" if subnet.version == 4 else "ipv6"
                via = topology.hosts[node].address(net, family)
                if via is not None:
                    commands.append(f"ip -{subnet.version} route replace {subnet} via {via} dev {net}")
        if commands:
            host.succeed(" && ".join(commands))
    target.provide("pod_subnets", subnets, "pod-network")
