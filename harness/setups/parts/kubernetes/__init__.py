"""Real Kubernetes on lab hosts: the components built from their Go modules
(harness.artifacts) run under each host's supervisord, the way the seeds'
documents set them up. Nothing here is a stand-in. Each module is one part
of a recipe (harness/setups/recipes.py), in the order a person sets a
cluster up:

  cluster_ca    the cluster's CA: cfssl signing, or easyCerts' CA daemon and node join
  control_plane kube-apiserver, controller-manager, scheduler on the roles named
  kubelet       containerd and kubelet, registering each node
  flanneld      the pod network: flannel on the kube subnet manager or on etcd
  kube_proxy    kube-proxy (iptables mode)
  coredns       CoreDNS at the cluster DNS IP, in the setup's line
  make_kubeconfig  seed 000's `kubernetes-make-kubeconfig` on the master

and what they share: `cluster` (the Cluster the target exposes), `api` (the
official client through a tunnel), `kubeconfig`, `layout` (paths),
`workloads` (Deployments of agnhost behind Services, scaled through the API).

`workloads` below is the last part: what suites drive of the cluster.
"""
from __future__ import annotations

from harness.setups.parts import declares
from harness.setups.parts.kubernetes.kubelet import IMAGES
from harness.setups.parts.kubernetes.workloads import KubeWorkloads


@declares(needs=("kubernetes", "pod_network", "service_proxy", "dns_server"), provides=("workload",))
def workloads(lab, target) -> None:
    """Deployments of agnhost behind Services, through the cluster's API."""
    target.provide("workload", KubeWorkloads(target.kubernetes, IMAGES["agnhost"]), "workloads")
