"""Real Kubernetes on lab hosts: the components built from their Go modules
(harness.artifacts) run under each host's supervisord, the way the seeds'
documents set them up. Nothing here is a stand-in.

  pki           the cluster PKI, made with cfssl as easyCerts makes it
  kubeconfig    kubeconfig files for components and users
  control_plane etcd, kube-apiserver, controller-manager, scheduler
  node          containerd, kubelet, kube-proxy (and the images they need)
  network       flanneld and its CNI configuration
  dns           CoreDNS as the cluster DNS, at the cluster DNS IP
  api           the official client, reaching the apiserver through a tunnel
  fcio          seed 000 (fcio-k8s) put together from the above
  workloads     Deployments of agnhost behind Services, scaled through the API

`apply` is the recipe part: the cluster, and what suites reach of it
(`target.kubernetes`, `target.workload`, `target.resolve`).
"""
from __future__ import annotations

import ipaddress

from kubernetes import client

from harness.lab.resolver import resolver
from harness.model.setups import KUBERNETES_ROLES
from harness.setups.parts.pod_network import PodNetwork
from harness.setups.parts.kubernetes import fcio, node
from harness.setups.parts.kubernetes.workloads import KubeProxy, KubeWorkloads

def pod_network(cluster) -> PodNetwork:
    """flannel's pod network as suites see it: each node's pod subnet is the
    podCIDR the controller-manager gave its Node; every Kubernetes host runs
    flannel, so every one reaches pods directly."""
    nodes = client.CoreV1Api(cluster.api).list_node().items
    subnets = {n.metadata.name: [ipaddress.ip_network(c) for c in n.spec.pod_cidrs or ()]
               for n in nodes}
    return PodNetwork(subnets, KUBERNETES_ROLES, fcio.NETWORK)


#: topology option `coredns`: which CoreDNS line the cluster runs
COREDNS_LINES = {"1.8": "coredns-1.8", "current": "coredns-1.12"}


def apply(lab, target) -> None:
    line = lab.topology.options.get("coredns", "1.8")
    if line not in COREDNS_LINES:
        raise ValueError(f"topology option coredns: {line!r} is not one of {sorted(COREDNS_LINES)}")
    cluster = fcio.apply(lab, coredns=COREDNS_LINES[line])
    target.provide("kubernetes", cluster, "k8s-api")
    target.provide("resolve", resolver(["ipv4" if c.version == 4 else "ipv6"
                                        for c in lab.topology.pod_cidrs]), "dns")
    target.provide("dns_server", cluster.cluster_dns)
    target.provide("workload", KubeWorkloads(cluster, node.IMAGES["agnhost"]), "workloads")
    target.provide("pod_network", pod_network(cluster), "pod-network", "vxlan")
    # seed 000: "Every VM with a Kubernetes role runs a kube-proxy"
    target.provide("service_proxy", KubeProxy([cluster.master, *cluster.nodes, *cluster.frontends]),
                   "service-proxy")
