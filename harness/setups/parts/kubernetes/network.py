"""The pod network: flanneld on every Kubernetes host (seed 002: "flannel as
CNI"; the NixOS module's default backend, vxlan), with the kube subnet
manager: each node's pod subnet is the podCIDR the controller-manager gave
its Node, and flanneld writes /run/flannel/subnet.env, which the flannel CNI
plugin reads to call the bridge plugin for each pod.
"""
from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from harness import artifacts
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.layout import CNI_CONF_DIR, K8S_DIR
from harness.setups.parts.kubernetes.pki import Certificate, Pki

if TYPE_CHECKING:
    from harness.lab.host import Host

CERTIFICATE = Certificate("flannel", "flannel", "client")
NET_CONF = "/etc/kube-flannel/net-conf.json"
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


def route_services(host: Host, service_cidr: str, timeout: float = 60) -> None:
    """The service network on flannel's device. kube-proxy DNATs a Service IP
    in OUTPUT, after the kernel has routed the packet: a real VM routes it by
    its default route, a lab host has none (nothing may leave the lab), so it
    gets this route instead; the packet is then routed again to the pod."""
    # flanneld makes flannel.1 once its node has a pod subnet, then brings it up
    host.wait_until_succeeds(shlex.join(["ip", "route", "replace", str(service_cidr), "dev", "flannel.1"]),
                             timeout=timeout)


def install(host: Host, pki: Pki, server: str, pod_cidr: str, interface: str) -> None:
    host.put_file(f"{K8S_DIR}/flannel.kubeconfig", kubeconfig.render(
        server, pki.ca, "flannel", pki.cert("flannel"), pki.key("flannel")), mode=0o600)
    host.put_file(NET_CONF, json.dumps({"Network": pod_cidr, "Backend": {"Type": "vxlan"}}))
    host.put_file(f"{CNI_CONF_DIR}/10-flannel.conflist", json.dumps({
        "name": "cbr0", "cniVersion": "0.3.1",
        "plugins": [{"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
                    {"type": "portmap", "capabilities": {"portMappings": True}}]}, indent=1))
    host.service("flanneld").define(
        [str(artifacts.binary("flanneld")), "--kube-subnet-mgr",
         f"--kubeconfig-file={K8S_DIR}/flannel.kubeconfig", f"--net-config-path={NET_CONF}",
         # as flannel's own manifests run it: flanneld masquerades only what leaves
         # the pod network; without it the CNI plugin has the bridge masquerade
         # every pod-to-pod packet between nodes, and pods would not see pod IPs
         f"--iface={interface}", "--ip-masq"],
        environment={"NODE_NAME": host.name}, autostart=True, autorestart=True, startsecs=0)
