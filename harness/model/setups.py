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

from dataclasses import dataclass, field

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

