"""Seed 004 on kubeadm 1.34: `kubeadm init --config … --upload-certs` on the
first control plane, the other control planes joined with `--control-plane
--certificate-key`, the workers with the printed join command; stacked etcd
and kube-proxy as kubeadm runs them (static pods, a DaemonSet), IPv6 only.

The parts, in the order an admin goes:

  load_balancer  the control-plane endpoint: HAProxy on the router, in front
                 of every apiserver (kubeadm's HA guide has a load balancer
                 there; the seed's sites have their router)
  init           containerd and kubelet on every node, then kubeadm init
  join           the other control planes, then the workers
  kube_proxy     kubeadm's kube-proxy DaemonSet, once the pod network is up

Each host needs what kind gives its nodes: the kubelet settings of this
machine (in kubeadm's KubeletConfiguration), the images imported under the
names kubeadm asks for, preflight skipped.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from kubernetes import client

from harness import artifacts
from harness.artifacts import spec
from harness.lab import templates
from harness.lab.net import bracketed
from harness.lab.timeline import on_hosts
from harness.lab.wait import wait_until
from harness.model.setups import CONTROL_PLANE_ROLES, KUBERNETES_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.kubeadm import commands, config
from harness.setups.parts.kubeadm.cluster import ADMIN_CONF, KubeadmCluster, admin_credentials
from harness.setups.parts.etcd.cluster import Member
from harness.setups.parts.kubeadm.stacked_etcd import StackedEtcd
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.control_plane import ControlPlane, link_kubectl
from harness.setups.parts.kubernetes.kubelet import pod_images, raise_inotify_limits, run_containerd
from harness.setups.parts.kubernetes.layout import APISERVER_PORT, CNI_CONF_DIR, K8S_DIR
from harness.setups.parts.kubernetes.workloads import KubeProxy

PART_DIR = Path(__file__).parent
HAPROXY_CONFIG = "/etc/haproxy/kube-apiserver.cfg"
KUBELET_FILES = {"config": "/var/lib/kubelet/config.yaml", "flags": "/var/lib/kubelet/kubeadm-flags.env",
                 "kubeconfig": f"{K8S_DIR}/kubelet.conf",
                 "bootstrap_kubeconfig": f"{K8S_DIR}/bootstrap-kubelet.conf"}
CONTROL_PLANE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
NODE_IMAGES = ("kube-proxy", "kube-router")
FAMILY = "ipv6"


def _hosts(lab, roles) -> list:
    return [h for h in lab.hosts.values() if set(h.roles) & roles]


def _router(lab):
    routers = _hosts(lab, {"router"})
    if not routers:
        raise ValueError(f"topology {lab.topology.name}: kubeadm-ha's control-plane endpoint "
                         "is the load balancer on the router; no host has role router")
    return routers[0]


@declares(provides=("api_endpoint",))
def load_balancer(lab, target) -> None:
    """HAProxy (TCP) on the router at [router]:6443, every control plane's
    apiserver behind it; kubeadm's controlPlaneEndpoint names it."""
    router = _router(lab)
    address = router.address(family=FAMILY)
    servers = [(h.name, f"{bracketed(h.address(family=FAMILY))}:{APISERVER_PORT}")
               for h in _hosts(lab, CONTROL_PLANE_ROLES)]
    router.put_file(HAPROXY_CONFIG, templates.render(
        PART_DIR, "haproxy-apiserver.cfg.j2", bind=f"{bracketed(address)}:{APISERVER_PORT}",
        servers=servers))
    router.succeed(f"haproxy -c -q -f {HAPROXY_CONFIG}")
    router.service("kube-apiserver-lb").define(["haproxy", "-db", "-f", HAPROXY_CONFIG],
                                              autostart=True, autorestart=True)
    target.provide("api_endpoint", f"{bracketed(address)}:{APISERVER_PORT}")


def install_node(host, control_plane: bool) -> None:
    """containerd with the images this node runs, kubelet under supervisord
    waiting for kubeadm's config, kubeadm (and kubectl on control planes)."""
    # the machine's CNI configs (podman's) show through the host's /etc: the
    # pod network's own config is to be the only one (a joined node has it)
    if not joined(host):
        host.succeed(f"mkdir -p {CNI_CONF_DIR} && find {CNI_CONF_DIR} -mindepth 1 -delete")
    raise_inotify_limits(host)
    keys = (*NODE_IMAGES, *(CONTROL_PLANE_IMAGES if control_plane else ()))
    run_containerd(host, [*pod_images(), *(spec.IMAGE_REFS[k] for k in keys)])
    host_binaries.link(host, ["kubeadm", "kubelet"])
    if control_plane:
        link_kubectl(host, ADMIN_CONF)
    script = f"{K8S_DIR}/kubelet-kubeadm.sh"
    host.put_file(script, templates.render(PART_DIR, "kubelet.sh.j2", kubelet=str(artifacts.binary("kubelet")),
                                           **KUBELET_FILES), mode=0o755)
    host.service("kubelet").define(["sh", script], autostart=True, autorestart=True, startsecs=0)


def joined(host) -> bool:
    """Whether kubeadm init or join already made `host` a node (its kubelet's kubeconfig)."""
    return host.run(f"[ -f {KUBELET_FILES['kubeconfig']} ]").ok


def _init_once(first) -> str:
    """`kubeadm init --config … --upload-certs` and the certificate key it
    printed; on a lab attached again, whose first control plane is already
    initialized, the key of a new `upload-certs` instead."""
    if joined(first):
        return commands.upload_certs(first)
    out = commands.run(first, ["init", f"--config={commands.CONFIG}", "--upload-certs"])
    found = re.search(r"--certificate-key\s+([0-9a-f]{64})", out)
    if not found:
        raise commands.KubeadmError(f"kubeadm init on {first.name} printed no certificate key")
    return found.group(1)


@declares(needs=("api_endpoint",), provides=("kubernetes", "container_runtime"))
def init(lab, target) -> None:
    """Every node ready for kubeadm, then `kubeadm init --config …
    --upload-certs` on the first control plane."""
    topo = lab.topology
    planes = _hosts(lab, CONTROL_PLANE_ROLES)
    nodes = _hosts(lab, KUBERNETES_ROLES)
    on_hosts(nodes, lambda h: install_node(h, h in planes))
    target.provide("container_runtime", nodes)
    first = planes[0]
    address = first.address(family=FAMILY)
    first.put_file(commands.CONFIG, config.init_configuration(
        first.name, address, target.api_endpoint, topo.name, topo.domain, str(topo.pod_cidrs[0]),
        str(topo.service_cidrs[0])), mode=0o600)
    certificate_key = _init_once(first)
    cluster = KubeadmCluster(
        lab, [ControlPlane(h, h.address(family=FAMILY)) for h in planes],
        admin_credentials(first, ADMIN_CONF), topo.domain, str(topo.service_cidrs[0]),
        str(topo.pod_cidrs[0]), versions={"kubernetes": spec.binary_version("kubeadm")},
        certificate_key=certificate_key, api_endpoint=target.api_endpoint)
    target.provide("kubernetes", cluster, "k8s-api", "kubeadm")


@declares(needs=("kubernetes",), provides=("kubelets", "etcd"))
def join(lab, target) -> None:
    """The join command printed on the first control plane: the other control
    planes one after the other (each adds an etcd member), the workers at
    the same time (those not joined yet)."""
    cluster = target.kubernetes
    first, *others = cluster.control_planes
    printed = commands.print_join_command(first.host)
    cluster.join_command = printed
    # a lab attached again has its nodes joined already
    planes = [p for p in others if not joined(p.host)]
    workers = [h for h in _hosts(lab, KUBERNETES_ROLES)
               if h not in [p.host for p in cluster.control_planes] and not joined(h)]
    # kubeadm adds one etcd member at a time (as a learner, promoted once in
    # sync): each control plane waits for the one before it; the workers only
    # bootstrap their kubelet through the endpoint, all at once beside them
    order = [p.host.name for p in planes]
    finished = [threading.Event() for _ in planes]

    def join_one(host) -> None:
        if host.name not in order:
            commands.join_worker(host, printed, config.SKIPPED_PHASES)
            return
        turn = order.index(host.name)
        if turn:
            finished[turn - 1].wait()  # set however that join ended
            if not joined(planes[turn - 1].host):
                raise commands.KubeadmError(f"{host.name} not joined: {order[turn - 1]}, "
                                            "which joins before it, did not join")
        try:
            commands.join_control_plane(host, printed, cluster.certificate_key, planes[turn].address,
                                        config.SKIPPED_PHASES)
        finally:
            finished[turn].set()
    on_hosts([*(p.host for p in planes), *workers], join_one)
    hosts = _hosts(lab, KUBERNETES_ROLES)
    names = [h.name for h in hosts]
    wait_until(lambda: k8s_api.nodes_registered(cluster.api, names),
               f"nodes {' '.join(names)} to register", timeout=120, interval=0.5)
    cluster.kubelets = hosts
    target.provide("kubelets", hosts)
    etcd = StackedEtcd([Member(p.host.name, p.host, p.address, "https") for p in cluster.control_planes],
                       tls=True, token="")
    etcd.wait_healthy(60)
    target.provide("etcd", etcd, "etcd", "etcd-tls", *(["etcd-quorum"] if len(etcd.members) >= 3 else []))


@declares(needs=("kubernetes", "kubelets", "pod_network"), provides=("service_proxy",))
def kube_proxy(lab, target) -> None:
    """kubeadm's kube-proxy DaemonSet (its addon phase made it at init),
    running on every node."""
    cluster = target.kubernetes
    apps = client.AppsV1Api(cluster.api)

    def rolled_out() -> bool:
        status = apps.read_namespaced_daemon_set("kube-proxy", "kube-system").status
        return status.number_ready == status.desired_number_scheduled == len(cluster.kubelets)
    wait_until(rolled_out, "kube-proxy DaemonSet ready on every node", timeout=120, interval=0.5)
    cluster.proxies = list(cluster.kubelets)
    target.provide("service_proxy", KubeProxy(cluster.kubelets), "service-proxy")
