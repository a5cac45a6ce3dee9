"""A STAND-IN for flanneld: the kernel data plane it builds, for its host-gw
and vxlan backends, in the setups that do not run the real flanneld yet
(fcio-k8s does). The harness builds what flanneld would build on each node,
the same kernel objects by the same rules:

- host-gw (seed 001, k3s: "flannel with the host-gw backend", nodes on the
  SRV network): on every host with access to the cluster network, one route
  per other node's subnet via that node's address on the shared network.
- vxlan (seed 003, CentOS "hard way"): a `flannel.1` VXLAN device (VNI 1,
  UDP 8472, learning off) on each node running flanneld, addressed with the
  network address of its subnet as a /32 ("inet 10.241.45.0/32 scope global
  flannel.1"); for each other node a route `subnet via <subnet>.0 dev
  flannel.1 onlink`, a permanent neighbour entry for that gateway with the
  peer's VTEP MAC, and a forwarding entry sending that MAC to the peer's
  public address, which is what flanneld's vxlan backend programs.

The subnet leases flanneld would write to etcd are rendered here in its
format (`/atomic.io/network/subnets/10.241.1.0-24` ->
`{"PublicIP": ..., "BackendType": "vxlan", "BackendData": {"VtepMAC": ...}}`).
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from harness.model.topology import IPNetwork, Topology

VXLAN_DEVICE = "flannel.1"
VXLAN_VNI = 1
VXLAN_PORT = 8472
#: flanneld's default lease lifetime (24 h); it renews an hour before expiry
LEASE_TTL = 24 * 3600

#: seed 003: "The config is stored in etcd at /atomic.io/network/config"
NETWORK_CONFIG_KEY = "/atomic.io/network/config"
NETWORK_CONFIG = {"Network": "10.241.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan", "VNI": 1}}


def shared_network(topology: Topology, a: str, b: str, preferred: str | None = None) -> str | None:
    """The network hosts a and b both sit on (the preferred one when both do)."""
    common = [n for n in topology.hosts[a].addresses if n in topology.hosts[b].addresses]
    if preferred in common:
        return preferred
    return common[0] if common else None


@dataclass(frozen=True)
class Route:
    subnet: IPNetwork
    via: str
    dev: str

    def command(self, onlink: bool = False) -> str:
        return shlex.join(["ip", f"-{self.subnet.version}", "route", "replace", str(self.subnet),
                           "via", self.via, "dev", self.dev, *(["onlink"] if onlink else [])])


def host_gw_routes(topology: Topology, subnets: dict[str, list[IPNetwork]], host: str,
                   network: str | None = None) -> list[Route]:
    """The routes flannel host-gw gives `host`: every other node's subnets via
    that node's address on the network they share (`network` first)."""
    routes = []
    for node, node_subnets in subnets.items():
        net = shared_network(topology, host, node, network)
        if node == host or net is None:
            continue
        for subnet in node_subnets:
            family = "ipv4" if subnet.version == 4 else "ipv6"
            via = topology.hosts[node].address(net, family)
            if via is not None:
                routes.append(Route(subnet, str(via), net))
    return routes


def vtep_mac(topology: Topology, host: str) -> str:
    """A stable, locally administered MAC for a node's VTEP (flanneld lets the
    kernel pick one and publishes it in the lease; a fixed one keeps labs
    reproducible)."""
    index = list(topology.hosts).index(host)
    return f"0e:f1:00:00:{index >> 8:02x}:{index & 0xff:02x}"


def lease_key(subnet: IPNetwork, prefix: str = "/atomic.io/network") -> str:
    """flannel's lease key: the subnet with '/' replaced by '-'."""
    return f"{prefix}/subnets/{subnet.network_address}-{subnet.prefixlen}"


def lease_value(public_ip: str, mac: str) -> str:
    return json.dumps({"PublicIP": public_ip, "BackendType": "vxlan",
                       "BackendData": {"VtepMAC": mac}}, separators=(",", ":"))


@dataclass(frozen=True)
class VxlanNode:
    name: str
    subnet: IPNetwork
    public_ip: str
    network: str
    mac: str

    @property
    def gateway(self) -> str:
        """The VTEP's own address: the subnet's network address (flannel's x.y.z.0/32)."""
        return str(self.subnet.network_address)


def vxlan_nodes(topology: Topology, subnets: dict[str, list[IPNetwork]],
                network: str) -> list[VxlanNode]:
    return [VxlanNode(name, ipv4[0], str(topology.hosts[name].address(network, "ipv4")),
                      network, vtep_mac(topology, name))
            for name, node_subnets in subnets.items()
            if (ipv4 := [s for s in node_subnets if s.version == 4])]


def vxlan_commands(me: VxlanNode, peers: list[VxlanNode]) -> list[str]:
    """What flanneld's vxlan backend programs on node `me`."""
    commands = [shlex.join(args) for args in (
        ["ip", "link", "add", VXLAN_DEVICE, "address", me.mac, "type", "vxlan", "id", str(VXLAN_VNI),
         "local", me.public_ip, "dev", me.network, "dstport", str(VXLAN_PORT), "nolearning"],
        ["ip", "addr", "add", f"{me.gateway}/32", "dev", VXLAN_DEVICE],
        ["ip", "link", "set", VXLAN_DEVICE, "mtu", "1450", "up"],
    )]
    for peer in peers:
        if peer.name == me.name:
            continue
        commands += [
            Route(peer.subnet, peer.gateway, VXLAN_DEVICE).command(onlink=True),
            shlex.join(["ip", "neigh", "replace", peer.gateway, "lladdr", peer.mac, "dev", VXLAN_DEVICE,
                        "nud", "permanent"]),
            shlex.join(["bridge", "fdb", "append", peer.mac, "dev", VXLAN_DEVICE, "dst", peer.public_ip]),
        ]
    return commands


def masquerade_commands(pod_cidr: IPNetwork) -> list[str]:
    """flanneld's --ip-masq rules (k3s turns it on): pod traffic leaving the
    pod network goes out with the node's address; pod-to-pod keeps its source."""
    ipt = "iptables" if pod_cidr.version == 4 else "ip6tables"
    cidr = str(pod_cidr)
    return [shlex.join([ipt, "-t", "nat", "-A", "POSTROUTING", "-s", cidr, "-d", cidr, "-j", "RETURN"]),
            shlex.join([ipt, "-t", "nat", "-A", "POSTROUTING", "-s", cidr, "!", "-d", cidr,
                        "-j", "MASQUERADE"])]
