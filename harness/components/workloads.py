"""Workloads: pods on the node/agent hosts, published in the cluster DNS."""
from __future__ import annotations

from harness.setups import WORKER_ROLES
from harness.workload import Workloads

NAME = "workloads"
ORDER = 40
SETUPS = {"fcio-k8s", "k3s", "nixos", "centos-hardway", "kubeadm-ha"}


def apply(lab, target, steps) -> None:
    nodes = [h for h in lab.hosts.values() if set(h.roles) & WORKER_ROLES]
    dns, proxy = target.components.get("dns"), target.components.get("service-proxy")
    target.provide("workload", Workloads(nodes, target.pod_subnets, dns, proxy), "workloads")
