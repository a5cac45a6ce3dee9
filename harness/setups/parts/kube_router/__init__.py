"""The pod network of seed 004 on kube-router's BGP: IPv6, no overlay, a
full mesh between the nodes in the cluster's private ASN, every node
peering with the upstream router and announcing its own pod block (its
address the next hop) and the Service IPs. The router runs BIRD.

kube-router stands in for Calico, which cannot be built here: the module
proxy serves calico only as v3.28.5 under a pseudo-version and refuses
github.com/projectcalico/api (calico's go.mod replaces it with its own
./api directory), calico's BIRD templates need calico's BIRD fork, and this
kernel has no ipip. kube-router is a real Kubernetes BGP router: GoBGP in a
DaemonSet, routes from the Nodes' podCIDRs. How the seed's Calico settings
map to its flags: SEED_TO_KUBE_ROUTER, and the README.

kube-router's upstream manifests install the CNI config with an init
container running /bin/sh; our image has no shell, so the part writes that
config on each node, as the init container would (kube-router then inserts
the node's pod block into it).
"""
from __future__ import annotations

import ipaddress
import json
import time

from harness.artifacts import spec
from harness.lab.timeline import on_hosts
from harness.lab.wait import wait_until
from harness.model.setups import KUBERNETES_ROLES
from harness.setups.parts import declares
from harness.setups.parts.kube_router.fabric import KubeRouterFabric, pod_blocks
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.flanneld import route_services
from harness.setups.parts.kubernetes.layout import CNI_CONF_DIR
from harness.setups.parts.pod_network import FORWARDING, PodNetwork
from harness.setups.parts.pod_network import bgp

NAMESPACE = "kube-system"
CNI_CONF = f"{CNI_CONF_DIR}/10-kuberouter.conflist"
BRIDGE = "kube-bridge"
#: seed 004's Calico BGPConfiguration / BGPPeer, field by field: the kube-router
#: flag that does it, and how it differs (the README's table)
SEED_TO_KUBE_ROUTER = {
    "nodeToNodeMeshEnabled: true": ("--nodes-full-mesh=true --enable-ibgp=true", "same: iBGP full mesh"),
    "asNumber: 65534": (f"--cluster-asn={bgp.CLUSTER_ASN}", "same"),
    "serviceClusterIPs: 2001:db8:10:3::/108": (
        "--advertise-cluster-ip=true",
        "differs: kube-router announces each ClusterIP as a /128, Calico the whole /108"),
    "peerIP: <router>": ("--peer-router-ips=<router>", "same"),
    "asNumber: 213081 (peer)": (f"--peer-router-asns={bgp.ROUTER_ASN}", "same"),
    "keepOriginalNextHop: true": (
        "(default: --override-nexthop=false)",
        "same effect: each node announces only its own pod block, itself the next hop"),
    "no overlay": ("--enable-overlay=false", "same"),
}


def arguments(router_address: str, hold_time: int) -> list[str]:
    return ["--run-router=true", "--run-firewall=false", "--run-service-proxy=false",
            "--enable-ipv4=false", "--enable-ipv6=true", "--enable-cni=true",
            "--enable-overlay=false", "--enable-pod-egress=false",
            "--nodes-full-mesh=true", "--enable-ibgp=true", f"--cluster-asn={bgp.CLUSTER_ASN}",
            f"--peer-router-ips={router_address}", f"--peer-router-asns={bgp.ROUTER_ASN}",
            "--advertise-pod-cidr=true", "--advertise-cluster-ip=true",
            # an IPv6-only node has no IPv4 address to be its router ID
            "--router-id=generate", f"--bgp-holdtime={hold_time}s"]


def manifests(image: str, router_address: str, api_host: str, api_port: str, hold_time: int) -> list[dict]:
    meta = {"namespace": NAMESPACE}
    labels = {"k8s-app": "kube-router"}
    read = ["get", "list", "watch"]
    host_paths = {"cni-conf-dir": (CNI_CONF_DIR, "Directory"), "lib-modules": ("/lib/modules", "Directory"),
                  "xtables-lock": ("/run/xtables.lock", "FileOrCreate")}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kube-router", **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "kube-router"},
         "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                    "verbs": read},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                   {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "kube-router"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
         "subjects": [{"kind": "ServiceAccount", "name": "kube-router", "namespace": NAMESPACE}]},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-router", "labels": labels, **meta},
         "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
             "hostNetwork": True, "serviceAccountName": "kube-router",
             "priorityClassName": "system-node-critical", "tolerations": [{"operator": "Exists"}],
             "containers": [{
                 "name": "kube-router", "image": image, "imagePullPolicy": "Never",
                 "args": arguments(router_address, hold_time),
                 "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                         {"name": "KUBE_ROUTER_CNI_CONF_FILE", "value": CNI_CONF},
                         # the control-plane endpoint, not the kubernetes Service: kube-router
                         # makes the routes that Service needs
                         {"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
                         {"name": "KUBERNETES_SERVICE_PORT", "value": api_port}],
                 "securityContext": {"privileged": True},
                 "livenessProbe": {"httpGet": {"path": "/healthz", "port": 20244},
                                   "initialDelaySeconds": 10, "periodSeconds": 3},
                 "volumeMounts": [{"name": name, "mountPath": path, "readOnly": name == "lib-modules"}
                                  for name, (path, _) in host_paths.items()]}],
             "volumes": [{"name": name, "hostPath": {"path": path, "type": kind}}
                         for name, (path, kind) in host_paths.items()]}}}},
    ]


def cni_config() -> str:
    """The bridge and host-local IPAM config kube-router fills the node's
    pod block into (kube-router's documented CNI config)."""
    return json.dumps({"cniVersion": "0.3.0", "name": "kube-router", "plugins": [
        {"name": "kubernetes", "type": "bridge", "bridge": BRIDGE, "isDefaultGateway": True,
         "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}, indent=1)


@declares(needs=("kubernetes", "kubelets", "api_endpoint"), provides=("bgp", "pod_network"))
def apply(lab, target) -> None:
    """BIRD on the router, kube-router on every node; done when every node is
    Ready and the router and the nodes route every pod block via its node."""
    topo, cluster = lab.topology, target.kubernetes
    hold_time = int(topo.options.get("bgp_hold_time", bgp.DEFAULT_HOLD_TIME))
    nodes = cluster.kubelets
    names = [h.name for h in nodes]
    order = list(topo.hosts)
    router_host = next(h for h in lab.hosts.values() if "router" in h.roles)
    router = (router_host.name, order.index(router_host.name), router_host.address(family="ipv6"))
    wait_until(lambda: all(pod_blocks(cluster).get(n) for n in names),
               "the controller-manager to give every node its pod block", timeout=60, interval=0.5)
    blocks = {n: b for n, b in pod_blocks(cluster).items() if n in names}
    speakers = bgp.mesh([(h.name, order.index(h.name), h.address(family="ipv6"), blocks[h.name])
                         for h in nodes], router)
    bgp.configure(router_host, bgp.render(speakers[router[0]], [cluster.pod_cidr, cluster.service_cidr],
                                          hold_time))
    bgp.start(router_host)

    def prepare(host) -> None:
        host.succeed(FORWARDING)
        # as the upstream init container: only where there is none (kube-router
        # has filled the pod block into the one there)
        if not host.run(f"[ -f {CNI_CONF} ]").ok:
            host.put_file(CNI_CONF, cni_config())
    on_hosts(nodes, prepare)
    started = time.monotonic()
    api_host, api_port = target.api_endpoint.rsplit(":", 1)
    cluster.apply(manifests(spec.IMAGE_REFS["kube-router"], router[2], api_host.strip("[]"), api_port,
                            hold_time))
    wait_until(lambda: k8s_api.nodes_ready(cluster.api, names),
               f"nodes {' '.join(names)} Ready (kube-router's CNI config)", timeout=180, interval=0.5)
    fabric = KubeRouterFabric(lab, cluster, speakers, router[0], blocks, hold_time)
    wait_until(fabric.converged, "BGP to converge: every node and the router routing each pod block "
               f"via its node ({json.dumps(fabric.expected_router_routes())})", timeout=120, interval=0.5)
    fabric.converged_in = time.monotonic() - started
    on_hosts(nodes, lambda h: route_services(h, cluster.service_cidr, next(iter(h.spec.addresses))))
    target.stand_ins.append("kube-router stands in for Calico")
    target.provide("bgp", fabric, "bgp", "bgp-service-ips")
    target.provide("pod_network", PodNetwork({n: [ipaddress.ip_network(b) for b in bs]
                                              for n, bs in blocks.items()},
                                             KUBERNETES_ROLES | {"router"}), "pod-network")
