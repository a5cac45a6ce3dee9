"""Calico-style BGP with BIRD (seed 004): IPv6 only, no overlay.

calico-node is not built here (a STAND-IN takes its place); BIRD is the BGP
daemon inside it, so each node runs BIRD with the configuration calico-node's templates give it
for the seed's settings:

- "BGP full mesh" in the cluster's private ASN (`asNumber: 65534`): one
  iBGP session from each node to every other node;
- each node originates its pod block (Calico installs a blackhole for the
  block and more specific routes per pod; here the block is originated in
  BIRD only, since the pods' bridge carries the connected route);
- a BGPPeer to the upstream router (`peerIP: ...::50`, `asNumber: 213081`,
  `keepOriginalNextHop: true`): every node exports the pool's routes,
  also those learned from the mesh, with `next hop keep`, so the router's
  next hop for a pod block is always the node hosting it;
- "We do not use any overlay": routes are plain IPv6 routes in the kernel.

The router runs BIRD too, importing from every node into its kernel table.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from harness.lab import templates
from harness.lab.collectors import Collector, VersionProbe

CONFIG_PATH = "/etc/bird/bird.conf"
SOCKET_PATH = "/run/bird/bird.ctl"
VERSION_PROBES = [VersionProbe("bird", "bird", "bird --version 2>&1")]
COLLECTORS = [
    Collector("bird-config.txt", f"cat {CONFIG_PATH}", "runs bird"),
    Collector("bird-protocols.txt", f"birdc -s {SOCKET_PATH} show protocols all",
              "command -v birdc && runs bird"),
    Collector("bird-routes.txt", f"birdc -s {SOCKET_PATH} show route all",
              "command -v birdc && runs bird"),
]
#: the seed's BGPConfiguration and BGPPeer values
CLUSTER_ASN = 65534
ROUTER_ASN = 213081
#: BIRD's default hold time is 240 s; labs use a short one (topology option
#: `bgp_hold_time`) so a node failure is noticed within seconds
DEFAULT_HOLD_TIME = 9


def router_id(index: int) -> str:
    """BGP needs a 32-bit router ID even on an IPv6-only network; written as a
    dotted quad it is an identifier, not an address."""
    return str(ipaddress.IPv4Address(index + 1))


def protocol_name(host: str) -> str:
    return "peer_" + re.sub(r"[^A-Za-z0-9_]", "_", host)


@dataclass
class Speaker:
    name: str
    index: int
    address: str
    asn: int
    #: (peer name, peer address, peer ASN, export filter name)
    peers: list[tuple[str, str, int, str]] = field(default_factory=list)
    originate: list[str] = field(default_factory=list)


def render(speaker: Speaker, accepted: list[str], hold_time: int) -> str:
    """BIRD's configuration for `speaker`, importing routes within the
    `accepted` prefixes (the pod network; on the router, also the services)."""
    peers = [{"name": peer, "protocol": protocol_name(peer), "address": address, "asn": asn,
              "export": export,
              # keepOriginalNextHop, on what a node exports to the router (eBGP)
              "next_hop_keep": asn != speaker.asn and export != "none"}
             for peer, address, asn, export in speaker.peers]
    return templates.render(Path(__file__).parent, "bird.conf.j2", name=speaker.name,
                            router_id=router_id(speaker.index), address=speaker.address,
                            asn=speaker.asn, originate=speaker.originate, accepted=accepted,
                            hold_time=hold_time, keepalive=max(1, hold_time // 3), peers=peers)


def configure(host, config: str) -> None:
    """BIRD's configuration on `host`, checked by BIRD itself (`bird -p`)."""
    host.put_file(CONFIG_PATH, config)
    host.succeed(f"bird -p -c {CONFIG_PATH} && mkdir -p $(dirname {SOCKET_PATH})")


def start(host) -> None:
    host.service("bird").define(f"bird -f -c {CONFIG_PATH} -s {SOCKET_PATH} -P /run/bird/bird.pid")


def mesh(nodes: list[tuple[str, int, str, list[str]]], router: tuple[str, int, str] | None
         ) -> dict[str, Speaker]:
    """Speakers for a full mesh of nodes (name, index, address, blocks) in the
    cluster ASN, each also peering with the router, and the router's speaker."""
    speakers = {}
    for name, index, address, blocks in nodes:
        s = Speaker(name, index, address, CLUSTER_ASN, originate=blocks)
        s.peers = [(other, addr, CLUSTER_ASN, "filter pod_blocks")
                   for other, _, addr, _ in nodes if other != name]
        if router:
            s.peers.append((router[0], router[2], ROUTER_ASN, "filter pod_blocks"))
        speakers[name] = s
    if router:
        r = Speaker(router[0], router[1], router[2], ROUTER_ASN)
        r.peers = [(name, address, CLUSTER_ASN, "none") for name, _, address, _ in nodes]
        speakers[router[0]] = r
    return speakers


def kernel_routes(routes: list[dict]) -> dict[str, str]:
    """prefix -> next hop, from `ip -j -6 route show proto bird` (Host.routes)."""
    return {str(ipaddress.ip_network(r["dst"])): r["gateway"] for r in routes if "gateway" in r}


def as_paths(birdc_all_output: str) -> dict[str, set[str]]:
    """prefix -> the AS paths of its routes, from `birdc show route all`."""
    paths: dict[str, set[str]] = {}
    prefix = None
    for line in birdc_all_output.splitlines():
        head = line.split()[0] if line.strip() else ""
        if line and not line[0].isspace() and "/" in head:
            prefix = str(ipaddress.ip_network(head))
        elif prefix and "BGP.as_path:" in line:
            paths.setdefault(prefix, set()).add(line.split("BGP.as_path:", 1)[1].strip())
    return paths


class BgpFabric:
    """The running BGP speakers of a lab: what suites ask about the mesh and
    the router (`target.bgp`)."""

    def __init__(self, lab, speakers: dict[str, Speaker], router: str | None,
                 blocks: dict[str, list[str]], hold_time: int):
        self.lab, self.speakers, self.router = lab, speakers, router
        self.blocks, self.hold_time = blocks, hold_time
        self.converged_in: float | None = None

    def birdc(self, host: str, command: str) -> str:
        return self.lab.host(host).succeed(shlex.join(["birdc", "-s", SOCKET_PATH, command]))

    def kernel_routes(self, host: str) -> dict[str, str]:
        """pod block -> next hop in `host`'s kernel, as BIRD installed it."""
        return kernel_routes(self.lab.host(host).routes(6, "proto", "bird"))

    def as_paths(self, host: str) -> dict[str, set[str]]:
        return as_paths(self.birdc(host, "show route all"))

    def expected_router_routes(self, without: set[str] = frozenset()) -> dict[str, str]:
        """pod block -> the address of the node hosting it (keepOriginalNextHop)."""
        return {block: self.speakers[node].address
                for node, blocks in self.blocks.items() if node not in without
                for block in blocks}

    def expected_node_routes(self, node: str, without: set[str] = frozenset()) -> dict[str, str]:
        """pod block -> hosting node's address, for every block but `node`'s own."""
        return {b: a for b, a in self.expected_router_routes(without | {node}).items()}

    def converged(self) -> bool:
        """Every node routes every other node's block via that node, and the
        router has every block via its node."""
        hosts = [n for n in self.blocks] + ([self.router] if self.router else [])
        return all(self.kernel_routes(h) == (self.expected_router_routes() if h == self.router
                                             else self.expected_node_routes(h))
                   for h in hosts)
