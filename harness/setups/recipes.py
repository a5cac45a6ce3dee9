"""One recipe per documented setup: the parts it is made of, in the order
they are applied (as kind lists its create actions). A part is a function
`apply(lab, target, **options)` in harness/setups/parts/<part>/; it may use
what earlier parts provided (the service proxy allocates ClusterIPs through
the cluster DNS, flannel writes its leases to etcd).

Seed 000 runs on real components; the other setups still run on the
stand-ins (BIND for CoreDNS, netns pods, the service proxy for kube-proxy,
the pod network's routes for flanneld/calico) until they move the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.model.setups import KUBERNETES_ROLES
from harness.setups.parts import (datastore, dns, etcd, frontend, kubernetes, pod_network,
                                  service_proxy, storage, webgateway, workloads)


@dataclass(frozen=True)
class Part:
    name: str
    apply: Callable[..., None]
    options: dict = field(default_factory=dict)


def part(name: str, apply: Callable[..., None], **options) -> Part:
    return Part(name, apply, options)


RECIPES: dict[str, list[Part]] = {
    # seed 000 on real components (harness/setups/parts/kubernetes): etcd, the
    # control plane, containerd + kubelet + kube-proxy, flannel, CoreDNS
    "fcio-k8s": [
        part("kubernetes cluster", kubernetes.apply),
        part("frontend", frontend.apply),
    ],
    "k3s": [  # seed 001
        # "Nodes interact with each other on the [SRV network]"
        part("pod network", pod_network.host_gw, network="srv"),
        part("cluster DNS", dns.apply),
        # servicePort makes the frontend's HAProxy "forward traffic to the
        # service and let kube-proxy distribute the traffic"
        part("service proxy", service_proxy.apply, roles=frozenset({"server", "agent", "frontend"})),
        part("workloads", workloads.apply),
        part("frontend", frontend.apply),
        part("storage", storage.apply),
        part("datastore", datastore.apply),
        part("webgateway", webgateway.apply),
    ],
    "nixos": [  # seed 002
        part("pod network", pod_network.host_gw),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=frozenset({"master", "node"})),
        part("workloads", workloads.apply),
    ],
    "centos-hardway": [  # seed 003
        part("etcd", etcd.apply),
        part("pod network", pod_network.flannel_vxlan),
        part("cluster DNS", dns.apply),
        # "workers with flanneld + docker + kubelet + kube-proxy"
        part("service proxy", service_proxy.apply, roles=frozenset({"node"})),
        part("workloads", workloads.apply),
    ],
    "kubeadm-ha": [  # seed 004
        part("etcd", etcd.apply, tls=True, family="ipv6"),
        part("pod network", pod_network.calico_bgp),
        part("cluster DNS", dns.apply),
        # kubeadm runs kube-proxy as a DaemonSet on every node, control plane included
        part("service proxy", service_proxy.apply, roles=frozenset({"master", "node"})),
        part("workloads", workloads.apply),
    ],
}

#: seed 000 as the harness applied it before real components ran: the
#: stand-ins. Not a setup any more; benchmarks/ measures the real cluster
#: against it (the same topology, in the same run).
SEED_000_STAND_IN: list[Part] = [
    part("pod network", pod_network.host_gw),
    part("cluster DNS", dns.apply),
    part("service proxy", service_proxy.apply, roles=KUBERNETES_ROLES),
    part("workloads", workloads.apply),
    part("frontend", frontend.apply),
]
