"""The documented setups (one per seed in ../shared/seeds) and what each
requires of a topology.

The role rules are quoted from the seeds:
- fcio-k8s (seed 000): "There must be exactly one VM per project with the
  master role", "There must be at least one node per project".
- k3s (seed 001): one k3s server (changing it "is not supported"), agents
  ("One node will be sufficient to get started"), a frontend running the
  webgateway, optional NFS VMs.
- nixos (seed 002): roles master/node; "Multi-master (HA) clusters are not
  supported by the easyCerts module."
- centos-hardway (seed 003): "1 master and 2 workers" to start.
- kubeadm-ha (seed 004): control planes and workers, "All k8s clusters are
  IPv6 only", BGP "peering with an upstream router".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

#: roles a host may carry, as the seeds name them
KNOWN_ROLES = ("master", "server", "node", "agent", "frontend", "nfs", "router")
#: roles that make a host part of the Kubernetes cluster network
KUBERNETES_ROLES = frozenset({"master", "server", "node", "agent", "frontend"})
CONTROL_PLANE_ROLES = frozenset({"master", "server"})
WORKER_ROLES = frozenset({"node", "agent"})


@dataclass(frozen=True)
class SetupSpec:
    name: str
    seed: str
    #: role -> (minimum, maximum or None)
    role_counts: dict[str, tuple[int, int | None]]
    ipv6_only: bool = False
    odd_roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.role_counts)


SETUPS: dict[str, SetupSpec] = {
    spec.name: spec
    for spec in (
        SetupSpec("fcio-k8s", "000", {"master": (1, 1), "node": (1, None), "frontend": (0, None)}),
        SetupSpec("k3s", "001", {"server": (1, 1), "agent": (1, None), "frontend": (0, None),
                                 "nfs": (0, None)}),
        SetupSpec("nixos", "002", {"master": (1, 1), "node": (1, None)}),
        SetupSpec("centos-hardway", "003", {"master": (1, 1), "node": (1, None)}),
        SetupSpec("kubeadm-ha", "004", {"master": (1, None), "node": (1, None), "router": (1, 1)},
                  ipv6_only=True, odd_roles=frozenset({"master"})),
    )
}


@dataclass(frozen=True)
class TopologyOption:
    """A key of a topology's `options`: the setups it applies to and what a
    value must be (`check` returns what is wrong with a value, or None)."""
    setups: frozenset[str]
    check: Callable[[Any], str | None]


def _one_of(*choices) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def _whole_number(low: int, high: int) -> Callable[[Any], str | None]:
    return lambda v: (None if isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
                      else f"must be a whole number from {low} to {high}")


def _hostname(v: Any) -> str | None:
    ok = isinstance(v, str) and re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                                             r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", v)
    return None if ok else "must be a DNS name (lowercase labels joined by dots)"


REAL_KUBERNETES = frozenset({"fcio-k8s", "k3s", "nixos", "centos-hardway", "kubeadm-ha"})
OPTIONS: dict[str, TopologyOption] = {
    # which CoreDNS line the real cluster runs (seed 000's era: 1.8; kubeadm 1.34's: current)
    "coredns": TopologyOption(REAL_KUBERNETES, _one_of("1.8", "current")),
    # seed 004: BGP hold time of the sessions, seconds (RFC 4271: 0 or at least 3)
    "bgp_hold_time": TopologyOption(frozenset({"kubeadm-ha"}), _whole_number(3, 65535)),
    "webgateway_vhost": TopologyOption(frozenset({"k3s"}), _hostname),
}
