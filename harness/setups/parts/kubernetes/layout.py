"""Where the real components keep their files on a host (the NixOS module's
layout where the seed names one)."""
from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path

from harness.lab.collectors import Collector, VersionProbe

#: this part's folder (its config templates are in templates/)
PART_DIR = Path(__file__).parent

K8S_DIR = "/etc/kubernetes"
PKI_DIR = f"{K8S_DIR}/pki"
CNI_CONF_DIR = "/etc/cni/net.d"
#: the NixOS module's cluster-admin kubeconfig on the master
ADMIN_KUBECONFIG = f"{K8S_DIR}/cluster-admin.kubeconfig"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
CONTAINERD_ROOT = "/var/lib/containerd"
#: where containerd's content store keeps its blobs, by sha256
CONTAINERD_BLOBS = f"{CONTAINERD_ROOT}/io.containerd.content.v1.content/blobs/sha256"
APISERVER_PORT = 6443
#: the NixOS module's default services.kubernetes.addons.dns.clusterIp
#: lies in its default service network 10.0.0.0/24: the 254th address
DNS_HOST_INDEX = 254


def nth_address(cidr, index: int) -> str:
    return str(ipaddress.ip_network(cidr)[index])


def cluster_dns_ip(service_cidr) -> str:
    return nth_address(service_cidr, DNS_HOST_INDEX)


def kubernetes_service_ip(service_cidr) -> str:
    """The `kubernetes` Service's ClusterIP: the first address of the range."""
    return nth_address(service_cidr, 1)


_KUBECTL = shlex.join(["kubectl", f"--kubeconfig={ADMIN_KUBECONFIG}", "--request-timeout=5s"])
_CTR = shlex.join(["ctr", "-a", CONTAINERD_SOCKET, "-n", "k8s.io"])
#: what a red run on a real cluster needs besides the logs (/var/log/*.log:
#: kubelet, containerd, the control plane): the cluster's view from the
#: master, and each node's containers as its containerd has them
COLLECTORS = [
    *(Collector(f"kubernetes-{name}.txt", f"{_KUBECTL} {args}",
                f"[ -f {ADMIN_KUBECONFIG} ] && runs kube-apiserver")
      for name, args in (("nodes", "get nodes -o wide"),
                         ("pods", "get pods -A -o wide"),
                         ("services", "get services,endpointslices -A -o wide"),
                         ("events", "get events -A --sort-by=.lastTimestamp"))),
    Collector("containerd-containers.txt", f"{_CTR} containers ls; {_CTR} tasks ls",
              f"[ -S {CONTAINERD_SOCKET} ] && runs containerd"),
    # every kubeconfig the part writes (credentials redacted by the bundle)
    Collector("kubeconfigs.txt", f"for f in {K8S_DIR}/*.kubeconfig; do echo \"==> $f <==\"; "
              f"cat \"$f\"; done", f"ls {K8S_DIR}/*.kubeconfig"),
]

#: the components linked onto a host's PATH by the part that runs them (what
#: the version probes call); a control plane's kubectl is a wrapper instead
NODE_COMPONENTS = ["kubelet"]
CONTROL_PLANE_COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm"]
VERSION_PROBES = [
    *(VersionProbe(name, name, f"{name} --version")
      for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                   "kube-proxy", "flanneld")),
    VersionProbe("containerd", "containerd", "containerd --version"),
]
