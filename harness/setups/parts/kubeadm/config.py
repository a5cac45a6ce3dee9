"""The configuration `kubeadm init --config` reads (API kubeadm.k8s.io/v1beta4):
InitConfiguration, ClusterConfiguration, KubeletConfiguration and
KubeProxyConfiguration in one YAML stream, as bootstrap/XXX/kubeadm.yaml is
in seed 004.

What this machine needs of it, as kind's kubeadm config does for its nodes:
the kubelet settings every kubelet here needs (kubelet.MACHINE_SETTINGS),
IPv6 addresses everywhere, the images under the names and tags built here
(imageRepository, the etcd and CoreDNS tags set explicitly), kube-proxy
leaving the machine-wide conntrack sysctls alone, and node pod blocks of /80
(the controller-manager's IPv6 default is /64, the whole pod network).
"""
from __future__ import annotations

import yaml

from harness.artifacts import spec
from harness.setups.parts.kubernetes.kube_proxy import KEEP_CONNTRACK
from harness.setups.parts.kubernetes.kubelet import MACHINE_SETTINGS
from harness.setups.parts.kubernetes.layout import APISERVER_PORT, CONTAINERD_SOCKET, cluster_dns_ip
from harness.setups.parts.pod_network.subnets import PREFIX_LEN

API = "kubeadm.k8s.io/v1beta4"
#: kind skips preflight (it checks a machine, not a container); so does the harness
SKIPPED_PHASES = ("preflight",)
#: the CoreDNS addon is the harness's CoreDNS part: kubeadm's Corefile forwards
#: to the node's resolver (nothing may leave the lab) and caches for 30 s
SKIPPED_INIT_PHASES = (*SKIPPED_PHASES, "addon/coredns")


def image_tag(key: str) -> str:
    return spec.IMAGE_REFS[key].rsplit(":", 1)[1]


def node_registration(name: str, address: str) -> dict:
    return {"name": name, "criSocket": f"unix://{CONTAINERD_SOCKET}",
            "kubeletExtraArgs": [{"name": "node-ip", "value": address}]}


def init_configuration(name: str, address: str, endpoint: str, cluster_name: str, domain: str,
                       pod_cidr: str, service_cidr: str) -> str:
    """The YAML stream for `kubeadm init --config` on the first control plane
    (`name` at `address`), with `endpoint` (host:port) as controlPlaneEndpoint."""
    documents = [
        {"apiVersion": API, "kind": "InitConfiguration",
         "localAPIEndpoint": {"advertiseAddress": address, "bindPort": APISERVER_PORT},
         "nodeRegistration": node_registration(name, address),
         "skipPhases": list(SKIPPED_INIT_PHASES)},
        {"apiVersion": API, "kind": "ClusterConfiguration", "clusterName": cluster_name,
         "kubernetesVersion": spec.binary_version("kubeadm"), "controlPlaneEndpoint": endpoint,
         # every kubelet on the endpoint, as in seed 004's clusters (v1.22); kubeadm
         # 1.34 points a control plane's kubelet at its own apiserver, which hangs
         # while that node's etcd member is down: the kubelet cannot restart it
         # for a minute (its mirror pod calls time out first)
         "featureGates": {"ControlPlaneKubeletLocalMode": False},
         "imageRepository": spec.IMAGE_REFS["kube-apiserver"].rsplit("/", 1)[0],
         "etcd": {"local": {"imageTag": image_tag("etcd")}},
         "dns": {"imageTag": image_tag("coredns-1.12")},
         "networking": {"dnsDomain": domain, "podSubnet": pod_cidr, "serviceSubnet": service_cidr},
         # the harness's API client reaches the apiserver through a loopback tunnel
         "apiServer": {"certSANs": ["127.0.0.1", "::1"]},
         "controllerManager": {"extraArgs": [
             {"name": "node-cidr-mask-size-ipv6", "value": str(PREFIX_LEN[6])}]}},
        {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
         **MACHINE_SETTINGS, "clusterDomain": domain, "clusterDNS": [cluster_dns_ip(service_cidr)]},
        {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
         "mode": "iptables", "clusterCIDR": pod_cidr, "conntrack": KEEP_CONNTRACK},
    ]
    return yaml.safe_dump_all(documents, sort_keys=False)
