"""One recipe per documented setup: the parts it is made of, in the order a
person sets it up (as kind lists its create actions); applying runs it as
its graph (harness.setups.schedule), each part once what it needs is there. A part is a function
`apply(lab, target, **options)` in harness/setups/parts/<part>/ that declares
the Target components it needs and provides (harness.setups.parts.declares);
`check` refuses a recipe whose part needs what no earlier part provides.

Every seed runs on real components. Seed 001 is k3s's architecture on
upstream components; the k3s binary could not be built here (the module
proxy refuses github.com/k3s-io/k3s). Seed 004 runs on kubeadm, with
kube-router's BGP standing in for Calico, which cannot be built here
(harness/setups/parts/kube_router).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.model.setups import KUBERNETES_ROLES
from harness.setups.parts import (datastore, dns, etcd, frontend, kine, kube_router, kubeadm, kubernetes,
                                  local_path, pod_network, service_proxy, storage, webgateway, workloads)
from harness.setups.parts.kubernetes import (cluster_ca, control_plane, coredns, flanneld, kube_proxy,
                                             kubelet, make_kubeconfig)


class RecipeError(ValueError):
    """A recipe whose parts are out of order: nothing was made."""


class PartDidNotProvide(RuntimeError):
    """A part returned without providing what it declared."""


@dataclass(frozen=True)
class Part:
    name: str
    apply: Callable[..., None]
    options: dict = field(default_factory=dict)

    @property
    def needs(self) -> frozenset[str]:
        return self.apply.needs

    @property
    def provides(self) -> frozenset[str]:
        return self.apply.provides

    def applies_to(self, topology) -> bool:
        role = self.apply.only_with_role
        return role is None or any(role in h.roles for h in topology.hosts.values())


def part(name: str, apply: Callable[..., None], **options) -> Part:
    if not hasattr(apply, "needs"):
        raise TypeError(f"part {name!r}: {apply.__module__}.{apply.__name__} declares nothing "
                        "(harness.setups.parts.declares)")
    return Part(name, apply, options)


def check(recipe: list[Part], topology, setup: str) -> None:
    """Refuse a recipe in which a part needs a component no earlier part
    (applied to this topology) provides."""
    provided: set[str] = set()
    for p in recipe:
        if not p.applies_to(topology):
            continue
        missing = p.needs - provided
        if missing:
            raise RecipeError(
                f"recipe {setup}: part {p.name!r} needs {', '.join(sorted(missing))}, which no "
                f"earlier part provides (provided so far: {', '.join(sorted(provided)) or 'nothing'})")
        provided |= p.provides


MASTER = frozenset({"master"})
NODE = frozenset({"node"})
SERVER = frozenset({"server"})

RECIPES: dict[str, list[Part]] = {
    # seed 000 on real components: every Kubernetes VM runs kubelet,
    # kube-proxy and flannel; the master and the frontend run no pods
    "fcio-k8s": [
        part("cluster CA (cfssl)", cluster_ca.cfssl),
        part("etcd (TLS, on the master's loopback)", etcd.tls, roles=MASTER, listen="loopback"),
        part("control plane", control_plane.apply, roles=MASTER, network="srv"),
        part("containerd", kubelet.containerd, roles=KUBERNETES_ROLES,
             no_pods=frozenset({"master", "frontend"})),
        part("kubelet", kubelet.apply, roles=KUBERNETES_ROLES,
             no_pods=frozenset({"master", "frontend"}), network="srv"),
        part("pod network: flannel vxlan, kube subnet manager", flanneld.kube_subnet_manager,
             roles=KUBERNETES_ROLES, network="srv"),
        part("kube-proxy", kube_proxy.apply, roles=KUBERNETES_ROLES, network="srv"),
        part("CoreDNS image", coredns.image),
        part("CoreDNS", coredns.apply),
        part("kubernetes-make-kubeconfig", make_kubeconfig.apply),
        part("workloads", kubernetes.workloads),
        part("frontend", frontend.apply),
    ],
    # seed 001: k3s's architecture on upstream components; the k3s binary
    # could not be built here. The server runs the control plane on kine on
    # PostgreSQL (as k3s embeds it) and is also an agent; agents join with a
    # token; "Nodes interact with each other on the [SRV network]" (flannel
    # host-gw); the webgateway, which "has full access to the overlay
    # network", is a node that runs no pods
    "k3s": [
        part("cluster CA (cfssl)", cluster_ca.cfssl),
        part("datastore: PostgreSQL on the server", datastore.apply),
        part("kine on PostgreSQL (k3s's etcd)", kine.apply),
        part("control plane on the server, kine as its etcd", control_plane.apply, roles=SERVER,
             network="srv", bootstrap_tokens=True),
        part("containerd", kubelet.containerd, roles=KUBERNETES_ROLES, no_pods=frozenset({"frontend"})),
        part("kubelet, joined with a bootstrap token", kubelet.apply, roles=KUBERNETES_ROLES,
             no_pods=frozenset({"frontend"}), network="srv", join="token"),
        part("pod network: flannel host-gw on SRV, kube subnet manager", flanneld.kube_subnet_manager,
             roles=KUBERNETES_ROLES, backend="host-gw", network="srv"),
        part("the platform's filter: non-Kubernetes VMs cannot reach the cluster network",
             pod_network.platform_filter),
        # servicePort makes the frontend's HAProxy "forward traffic to the
        # service and let kube-proxy distribute the traffic"
        part("kube-proxy", kube_proxy.apply, roles=KUBERNETES_ROLES, network="srv"),
        part("CoreDNS image", coredns.image),
        part("CoreDNS", coredns.apply),
        part("local-path-provisioner (PersistentVolumeClaims)", local_path.apply),
        part("kubectl and kubernetes-make-kubeconfig on the server", make_kubeconfig.apply),
        part("workloads", kubernetes.workloads),
        part("frontend", frontend.apply),
        part("webgateway", webgateway.apply),
        # no kernel NFS client here: ganesha runs on the nfs host, pods cannot mount it
        part("storage: NFS (ganesha on the nfs host)", storage.apply),
    ],
    # seed 002, the NixOS module: roles master (etcd, apiserver, controller-manager,
    # scheduler, addons, kube-proxy) and node (kubelet, kube-proxy, flannel)
    "nixos": [
        part("easyCerts: the CA daemon on the master", cluster_ca.easycerts),
        part("etcd (TLS, on the master's loopback)", etcd.tls, roles=MASTER, listen="loopback"),
        part("control plane", control_plane.apply, roles=MASTER),
        part("containerd", kubelet.containerd, roles=NODE),
        part("kubelet, joined with the token", kubelet.apply, roles=NODE),
        part("pod network: flannel vxlan, kube subnet manager", flanneld.kube_subnet_manager, roles=NODE),
        part("kube-proxy", kube_proxy.apply, roles=frozenset({"master", "node"})),
        part("CoreDNS image", coredns.image),
        part("CoreDNS (the addon manager's DNS addon)", coredns.apply),
        part("workloads", kubernetes.workloads),
    ],
    # seed 003, CentOS "hard way": etcd and the control plane on the master;
    # flanneld (on etcd), kubelet and kube-proxy on the workers
    "centos-hardway": [
        part("cluster CA (cfssl)", cluster_ca.cfssl),
        part("etcd (plain HTTP, all addresses)", etcd.plain, roles=MASTER),
        part("control plane", control_plane.apply, roles=MASTER, allocate_node_cidrs=False),
        part("containerd", kubelet.containerd, roles=NODE),
        part("kubelet", kubelet.apply, roles=NODE),
        part("pod network: flanneld on etcd (/atomic.io/network)", flanneld.etcd_backend, roles=NODE),
        part("kube-proxy", kube_proxy.apply, roles=NODE),
        part("CoreDNS image", coredns.image),
        part("CoreDNS", coredns.apply),
        part("workloads", kubernetes.workloads),
    ],
    # seed 004 on kubeadm: init --upload-certs, control planes joined with
    # --certificate-key, workers with the printed join command, stacked etcd;
    # kube-router's BGP STANDS IN for Calico (not buildable here: kube_router)
    "kubeadm-ha": [
        part("control-plane endpoint: HAProxy on the router", kubeadm.load_balancer),
        part("containerd + kubelet, kubeadm init --upload-certs", kubeadm.init),
        part("kubeadm join: control planes (--certificate-key), then workers", kubeadm.join),
        part("pod network: kube-router BGP to the router (stand-in for Calico)", kube_router.apply),
        part("kube-proxy (kubeadm's DaemonSet)", kubeadm.kube_proxy),
        part("CoreDNS image", coredns.image, line="current"),
        part("CoreDNS", coredns.apply),
        part("workloads", kubernetes.workloads),
    ],
}

#: the setups that now run on real components, as the harness applied them
#: before, on the STAND-INS. Not setups any more: benchmarks/ measures each
#: real cluster against its stand-in peer (the same topology, in the same run).
STAND_INS: dict[str, list[Part]] = {
    "k3s": [
        part("pod network", pod_network.host_gw, network="srv"),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=frozenset({"server", "agent", "frontend"})),
        part("workloads", workloads.apply),
        part("frontend", frontend.apply),
        part("storage", storage.apply),
        part("datastore", datastore.apply),
        part("webgateway", webgateway.apply),
    ],
    "fcio-k8s": [
        part("pod network", pod_network.host_gw),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=KUBERNETES_ROLES),
        part("workloads", workloads.apply),
        part("frontend", frontend.apply),
    ],
    "nixos": [
        part("pod network", pod_network.host_gw),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=frozenset({"master", "node"})),
        part("workloads", workloads.apply),
    ],
    "kubeadm-ha": [
        part("cluster CA (cfssl)", cluster_ca.cfssl),
        part("etcd", etcd.tls, family="ipv6"),
        part("pod network", pod_network.calico_bgp),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=frozenset({"master", "node"})),
        part("workloads", workloads.apply),
    ],
    "centos-hardway": [
        part("etcd", etcd.plain),
        part("pod network", pod_network.flannel_vxlan),
        part("cluster DNS", dns.apply),
        part("service proxy", service_proxy.apply, roles=NODE),
        part("workloads", workloads.apply),
    ],
}
