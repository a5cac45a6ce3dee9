"""Workloads: pods on the node/agent hosts, published in the cluster DNS."""
from __future__ import annotations

from harness.setups.parts import declares

from harness.model.setups import WORKER_ROLES
from harness.setups.parts.workloads.workloads import Workloads



@declares(needs=("pod_network", "dns", "service_proxy"), provides=("workload",))
def apply(lab, target) -> None:
    nodes = [h for h in lab.hosts.values() if set(h.roles) & WORKER_ROLES]
    target.provide("workload", Workloads(nodes, target.pod_network.subnets, target.dns,
                                         target.service_proxy), "workloads")
