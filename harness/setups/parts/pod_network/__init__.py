"""The pod network of the stand-ins: kubeadm-ha (seed 004), and the
stand-in recipes the benchmarks compare the real setups with
(recipes.STAND_INS; fcio-k8s, k3s, nixos and centos-hardway run the real
flanneld: harness/setups/parts/kubernetes).

- kubeadm-ha (seed 004): Calico-style BGP with BIRD, IPv6 only, no overlay
  (bgp.py, the stand-in for calico-node);
- stand-in k3s (seed 001): flannel host-gw on the SRV network (flannel.py,
  the stand-in for flanneld);
- stand-in centos-hardway (seed 003): flannel vxlan on the workers, leases
  in etcd (flannel.py);
- stand-in fcio-k8s and nixos: host routes to every node's subnet (the
  host-gw data plane), which is what their seeds need of the pod network.

These are STAND-INS: the lab builds the kernel data plane flanneld /
calico-node would build. BIRD runs for real.
"""
from __future__ import annotations

from harness.setups.parts import declares

import json
import shlex
import time
from dataclasses import dataclass

from harness.setups.parts.pod_network import bgp

from harness.setups.parts.pod_network import flannel
from harness.lab.host import CommandFailed
from harness.setups.parts.pod_network.subnets import node_subnets
from harness.model.setups import KUBERNETES_ROLES, WORKER_ROLES
from harness.lab.wait import wait_until
from harness.model.topology import IPNetwork


FORWARDING = "sysctl -qw net.ipv4.ip_forward=1 && sysctl -qw net.ipv6.conf.all.forwarding=1"


@dataclass(frozen=True)
class PodNetwork:
    """What suites see of the pod network (`target.pod_network`)."""
    #: node name -> its pod subnets (one per pod CIDR family)
    subnets: dict[str, list[IPNetwork]]
    #: the hosts whose roles let them reach pods directly
    reaching_roles: frozenset[str]
    #: the network host-gw routes go over (None: the first one both hosts share)
    routing_network: str | None = None

    def reaches_pods(self, host) -> bool:
        return bool(set(host.roles) & self.reaching_roles)


@declares(provides=("pod_network",))
def host_gw(lab, target, network: str | None = None) -> None:
    """The host-gw data plane: every node routes each other node's pod subnet
    via that node's address on `network` (the first shared one when None)."""
    subnets = node_subnets(lab.topology)
    apply_host_gw(lab, subnets, network)
    # seed 001: "non-Kubernetes VMs can not access the cluster network directly"
    target.provide("pod_network", PodNetwork(subnets, KUBERNETES_ROLES, network),
                   "pod-network", "host-gw")


@declares(needs=("etcd",), provides=("pod_network",))
def flannel_vxlan(lab, target) -> None:
    """flannel's vxlan backend (flannel.py stands in for flanneld): the
    network config and the leases in etcd, the VXLAN devices on the workers."""
    target.etcd.put(flannel.NETWORK_CONFIG_KEY, json.dumps(flannel.NETWORK_CONFIG))
    target.capabilities.add("flannel-config")
    # seed 003: flanneld runs on the workers only, not on the master
    target.provide("pod_network", PodNetwork(apply_vxlan(lab, target), WORKER_ROLES),
                   "pod-network", "vxlan")


@declares(provides=("bgp", "pod_network"))
def calico_bgp(lab, target) -> None:
    """Calico-style BGP with BIRD (stand-in for calico-node's routing)."""
    subnets = node_subnets(lab.topology)
    target.provide("bgp", apply_bgp(lab, subnets), "bgp")
    # the upstream router learns the pod blocks
    target.provide("pod_network", PodNetwork(subnets, KUBERNETES_ROLES | {"router"}),
                   "pod-network")


def apply_host_gw(lab, subnets, network: str | None) -> None:
    """Routes on every host with access to the cluster network (seed 001:
    server, agents and the webgateway "have full access to the overlay
    network"; hosts with no Kubernetes role get none)."""
    for host in lab.hosts.values():
        if not set(host.roles) & KUBERNETES_ROLES:
            continue
        commands = [FORWARDING, *masquerade(lab.topology), *closed_to_outsiders(lab.topology)] \
            if host.name in subnets else []
        commands += [r.command() for r in
                     flannel.host_gw_routes(lab.topology, subnets, host.name, network)]
        if commands:
            host.succeed(" && ".join(commands))


def closed_to_outsiders(topology, chain_position: str = "-A") -> list[str]:
    """Seed 001: "non-Kubernetes VMs can not access the cluster network
    directly", even with a route to it: what a node forwards to the pod
    network from a host without a Kubernetes role is dropped (the platform's
    filter, applied where the lab forwards), unless it answers a connection a
    pod opened (a pod writing to the NFS VM gets its replies). `chain_position`
    "-I" puts it before the accept rules flanneld and kube-proxy add."""
    # -w: kube-proxy may be writing its rules on the same host at the same time
    return [shlex.join(["iptables" if cidr.version == 4 else "ip6tables", "-w", chain_position, "FORWARD",
                        "-s", str(address), "-d", str(cidr), "-m", "conntrack", "!", "--ctstate",
                        "ESTABLISHED,RELATED", "-j", "DROP"])
            for cidr in topology.pod_cidrs
            for host in topology.hosts.values() if not set(host.roles) & KUBERNETES_ROLES
            for by_family in host.addresses.values() for address in by_family.values()
            if address.version == cidr.version]


@declares(needs=("pod_network",))
def platform_filter(lab, target) -> None:
    """The hosting platform's filter of seed 001 on every host that routes
    pods (the real flanneld filters nothing): hosts without a Kubernetes role
    cannot reach the cluster network, even when they route to it."""
    commands = closed_to_outsiders(lab.topology, "-I")
    for host in lab.hosts.values():
        if commands and target.pod_network.reaches_pods(host) and host.name in target.pod_network.subnets:
            host.succeed(" && ".join(commands))


def masquerade(topology) -> list[str]:
    return [c for cidr in topology.pod_cidrs for c in flannel.masquerade_commands(cidr)]


def apply_vxlan(lab, target) -> dict:
    """flannel vxlan on the workers (seed 003: "We're not actually going to run
    Flannel on the master"), VTEPs on the network the workers share with the
    master's etcd."""
    topology = lab.topology
    subnets = node_subnets(topology, WORKER_ROLES)
    master = next(h for h in lab.hosts.values() if "master" in h.roles)
    network = next(iter(master.spec.addresses))
    nodes = flannel.vxlan_nodes(topology, subnets, network)
    for node in nodes:
        lab.host(node.name).succeed(" && ".join([FORWARDING, *masquerade(topology),
                                                 *flannel.vxlan_commands(node, nodes)]))
    write_leases(target.etcd, nodes)
    return subnets


def write_leases(etcd, nodes: list[flannel.VxlanNode]) -> None:
    """Write each node's subnet lease where flanneld would, with its TTL,
    through the cluster's own etcd client (its endpoints, its TLS)."""
    for node in nodes:
        granted = etcd.etcdctl(["lease", "grant", str(flannel.LEASE_TTL)])
        if not granted.ok:
            raise CommandFailed(granted, "(etcd lease grant)")
        lease = granted.stdout.split()[1]
        value = flannel.lease_value(node.public_ip, node.mac)
        put = etcd.etcdctl(["put", f"--lease={lease}", flannel.lease_key(node.subnet), "--", value])
        if not put.ok:
            raise CommandFailed(put, "(etcd put lease)")


def apply_bgp(lab, subnets) -> bgp.BgpFabric:
    topology = lab.topology
    hold_time = int(topology.options.get("bgp_hold_time", bgp.DEFAULT_HOLD_TIME))
    names = list(topology.hosts)
    pod_cidr = next(str(c) for c in topology.pod_cidrs if c.version == 6)
    blocks = {n: [str(s) for s in subs if s.version == 6] for n, subs in subnets.items()}
    nodes = [(n, names.index(n), lab.host(n).address(family="ipv6"), blocks[n]) for n in subnets]
    router_host = next((h for h in lab.hosts.values() if "router" in h.roles), None)
    router = (router_host.name, names.index(router_host.name),
              router_host.address(family="ipv6")) if router_host else None
    speakers = bgp.mesh(nodes, router)
    for name, speaker in speakers.items():
        host = lab.host(name)
        bgp.configure(host, bgp.render(speaker, [pod_cidr], hold_time))
        if name in subnets:
            host.succeed(FORWARDING)
    started = time.monotonic()
    for name in speakers:
        bgp.start(lab.host(name))
    fabric = bgp.BgpFabric(lab, speakers, router and router[0], blocks, hold_time)
    wait_until(fabric.converged, "BGP to converge: every node and the router routing each "
               f"pod block via its node ({json.dumps(fabric.expected_router_routes())})",
               timeout=60, interval=0.2)
    fabric.converged_in = time.monotonic() - started
    return fabric
