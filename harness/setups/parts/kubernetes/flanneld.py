"""The pod network by the real flanneld, as a recipe's choice:

- `kube_subnet_manager`: flanneld reads each node's pod subnet from the
  podCIDR the controller-manager gave its Node (seed 000; seed 002: "flannel
  as CNI", the NixOS module's default), backend vxlan or host-gw;
- `etcd_backend`: seed 003's flanneld on etcd: the network config written
  with etcdctl to `<prefix>/config` ("etcdctl set /atomic.io/network/config
  <flannel_network.json"), flanneld leasing each node's subnet under
  `<prefix>/subnets/`, configured by `FLANNELD_*` environment as
  /etc/sysconfig/flanneld does.

flanneld writes /run/flannel/subnet.env, which the flannel CNI plugin reads
to call the bridge plugin for each pod. The nodes are Ready once it has.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
from typing import TYPE_CHECKING

from kubernetes import client

from harness import artifacts
from harness.lab.timeline import on_hosts
from harness.lab.wait import wait_until
from harness.model.setups import KUBERNETES_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.layout import CNI_CONF_DIR, K8S_DIR
from harness.setups.parts.pod_network import PodNetwork
from harness.setups.pki import Certificate

if TYPE_CHECKING:
    from harness.lab.host import Host

CERTIFICATE = Certificate("flannel", "flannel", "client")
NET_CONF = "/etc/kube-flannel/net-conf.json"
VXLAN_DEVICE = "flannel.1"
#: seed 003: "The config is stored in etcd at /atomic.io/network/config"
ATOMIC_PREFIX = "/atomic.io/network"
#: what flanneld may read and change (as its upstream RBAC grants)
RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "flannel"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
               {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
               {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "flannel"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "flannel"},
     "subjects": [{"kind": "User", "name": "flannel", "apiGroup": "rbac.authorization.k8s.io"}]},
]
BACKENDS = ("vxlan", "host-gw")


def route_services(host: Host, service_cidr: str, device: str, timeout: float = 60) -> None:
    """The service network on a device of the pod network. kube-proxy DNATs a
    Service IP in OUTPUT, after the kernel has routed the packet: a real VM
    routes it by its default route, a lab host has none (nothing may leave
    the lab), so it gets this route instead; the packet is then routed again
    to the pod."""
    # flanneld makes its device once its node has a pod subnet, then brings it up
    host.wait_until_succeeds(shlex.join(["ip", "route", "replace", str(service_cidr), "dev", device]),
                             timeout=timeout)


def _cni_config(host: Host) -> None:
    host.put_file(f"{CNI_CONF_DIR}/10-flannel.conflist", json.dumps({
        "name": "cbr0", "cniVersion": "0.3.1",
        "plugins": [{"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
                    {"type": "portmap", "capabilities": {"portMappings": True}}]}, indent=1))


def _define(host: Host, args: list[str], environment: dict[str, str], interface: str) -> None:
    _cni_config(host)
    host_binaries.link(host, ["flanneld"])
    host.service("flanneld").define(
        # as flannel's own manifests run it: flanneld masquerades only what leaves
        # the pod network; without it the CNI plugin has the bridge masquerade
        # every pod-to-pod packet between nodes, and pods would not see pod IPs
        [str(artifacts.binary("flanneld")), *args, f"--iface={interface}", "--ip-masq"],
        environment=environment, autostart=True, autorestart=True, startsecs=0)


def _finish(lab, target, hosts: list[Host], subnets, backend: str, network: str | None,
            *capabilities: str) -> None:
    """Wait for every node Ready, route the services, provide the pod network."""
    cluster = target.kubernetes
    names = [h.name for h in target.kubelets]
    wait_until(lambda: k8s_api.nodes_ready(cluster.api, names),
               f"nodes {' '.join(names)} Ready (flanneld's subnet.env and the CNI config)",
               timeout=180, interval=0.5)
    on_hosts(hosts, lambda h: route_services(
        h, cluster.service_cidr, VXLAN_DEVICE if backend == "vxlan" else _interface(h, network)))
    roles = frozenset(r for h in hosts for r in h.roles)
    target.provide("pod_network", PodNetwork(subnets(), roles, network), "pod-network", backend,
                   *capabilities)


def _interface(host: Host, network: str | None) -> str:
    """The link of `network` on the host (links are named after their network)."""
    return network or next(iter(host.spec.addresses))


def _hosts(lab, roles) -> list[Host]:
    return [h for h in lab.hosts.values() if set(h.roles) & roles]


@declares(needs=("pki", "kubernetes", "kubelets"), provides=("pod_network",))
def kube_subnet_manager(lab, target, roles=KUBERNETES_ROLES, backend: str = "vxlan",
                        network: str | None = None) -> None:
    """flanneld with `--kube-subnet-mgr` on every host with one of `roles`."""
    if backend not in BACKENDS:
        raise ValueError(f"flannel backend {backend!r} is not one of {BACKENDS}")
    cluster, hosts = target.kubernetes, _hosts(lab, roles)
    d = cluster.pki.directory
    cluster.apply(RBAC)

    def install(host):
        cluster.pki.provision(host, [CERTIFICATE])
        host.put_file(f"{K8S_DIR}/flannel.kubeconfig", kubeconfig.render_files(
            cluster.server, f"{d}/ca.pem", CERTIFICATE.cn, f"{d}/flannel.pem", f"{d}/flannel-key.pem"),
            mode=0o600)
        host.put_file(NET_CONF, json.dumps({"Network": cluster.pod_cidr, "Backend": {"Type": backend}}))
        _define(host, ["--kube-subnet-mgr", f"--kubeconfig-file={K8S_DIR}/flannel.kubeconfig",
                       f"--net-config-path={NET_CONF}"], {"NODE_NAME": host.name},
                _interface(host, network))

    on_hosts(hosts, install)

    def subnets():
        """Each node's pod subnet: the podCIDR the controller-manager gave it."""
        nodes = client.CoreV1Api(cluster.api).list_node().items
        return {n.metadata.name: [ipaddress.ip_network(c) for c in n.spec.pod_cidrs or ()]
                for n in nodes if n.metadata.name in {h.name for h in hosts}}
    _finish(lab, target, hosts, subnets, backend, network)


@declares(needs=("etcd", "kubernetes", "kubelets"), provides=("pod_network",))
def etcd_backend(lab, target, roles=KUBERNETES_ROLES, prefix: str = ATOMIC_PREFIX,
                 network: str | None = None) -> None:
    """flanneld on etcd (seed 003), vxlan with VNI 1 in 24-bit subnets."""
    etcd, cluster, hosts = target.etcd, target.kubernetes, _hosts(lab, roles)
    # seed 003's flannel_network.json, on the cluster's pod network
    etcd.put(f"{prefix}/config", json.dumps({"Network": cluster.pod_cidr, "SubnetLen": 24,
                                             "Backend": {"Type": "vxlan", "VNI": 1}}))
    endpoints = ",".join(m.client_url for m in etcd.members.values())
    for host in hosts:
        _define(host, [], {"FLANNELD_ETCD_ENDPOINTS": endpoints, "FLANNELD_ETCD_PREFIX": prefix},
                _interface(host, network))

    def subnets():
        """Each node's subnet as flanneld leased it in etcd."""
        listed = etcd.etcdctl(["get", "--prefix", f"{prefix}/subnets/"])
        pairs = listed.stdout.split("\n")
        leases = {}
        for key, value in zip(pairs[0::2], pairs[1::2]):
            public_ip = json.loads(value)["PublicIP"]
            node = next(h.name for h in hosts if public_ip in {
                str(a) for fams in h.spec.addresses.values() for a in fams.values()})
            leases.setdefault(node, []).append(
                ipaddress.ip_network(key.rsplit("/", 1)[1].replace("-", "/")))
        return leases
    _finish(lab, target, hosts, subnets, "vxlan", network, "flannel-config")
