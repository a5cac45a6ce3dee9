"""Workloads: pods on the node/agent hosts, published in the cluster DNS."""
from __future__ import annotations

from harness.model.setups import WORKER_ROLES
from harness.setups.parts.workloads.workloads import Workloads



def apply(lab, target) -> None:
    nodes = [h for h in lab.hosts.values() if set(h.roles) & WORKER_ROLES]
    dns = target.dns if target.provided("dns") else None
    proxy = target.service_proxy if target.provided("service_proxy") else None
    target.provide("workload", Workloads(nodes, target.pod_network.subnets, dns, proxy), "workloads")
