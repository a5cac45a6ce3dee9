"""Workloads: pods on the node/agent hosts, published in the cluster DNS."""
from __future__ import annotations

from harness.model.setups import WORKER_ROLES
from harness.setups.parts.workloads.workloads import Workloads



def apply(lab, target) -> None:
    nodes = [h for h in lab.hosts.values() if set(h.roles) & WORKER_ROLES]
    dns, proxy = target.components.get("dns"), target.components.get("service-proxy")
    target.provide("workload", Workloads(nodes, target.pod_subnets, dns, proxy), "workloads")
