"""The service proxy: ClusterIPs carry traffic to the pods
(harness/service_proxy.py, the stand-in for kube-proxy), on the hosts each
seed runs kube-proxy on."""
from __future__ import annotations

from harness.service_proxy import ServiceProxy
from harness.setups import KUBERNETES_ROLES

NAME = "service proxy"
ORDER = 35
#: setup -> roles whose hosts run kube-proxy
PROXY_ROLES = {
    # seed 000: "Every VM with a Kubernetes role runs a kube-proxy"
    "fcio-k8s": KUBERNETES_ROLES,
    # seed 001: servicePort makes the frontend's HAProxy "forward traffic to
    # the service and let kube-proxy distribute the traffic"; k3s servers
    # and agents run kube-proxy
    "k3s": frozenset({"server", "agent", "frontend"}),
    "nixos": frozenset({"master", "node"}),
    # seed 003: "workers with flanneld + docker + kubelet + kube-proxy"
    "centos-hardway": frozenset({"node"}),
    # kubeadm runs kube-proxy as a DaemonSet on every node, control plane included
    "kubeadm-ha": frozenset({"master", "node"}),
}
SETUPS = set(PROXY_ROLES)


def apply(lab, target, steps) -> None:
    roles = PROXY_ROLES[lab.topology.setup]
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    if hosts and "dns" in target.components:  # ClusterIPs are allocated by the cluster DNS
        target.provide("service-proxy", ServiceProxy(hosts), "service-proxy")
