"""Seed 000 (fcio-k8s, the hosted NixOS roles) on real components.

- master: etcd, kube-apiserver, kube-controller-manager, kube-scheduler;
  `kubectl` with the cluster-admin kubeconfig, and `kubernetes-make-kubeconfig`;
- nodes: containerd, kubelet, kube-proxy, registering themselves;
- frontend: "access to the cluster network" (flannel and kube-proxy), no pods;
- flannel (vxlan) on every Kubernetes host, CoreDNS at the cluster DNS IP.

Where the harness differs from the document, and why: the master and the
frontend also run a kubelet that registers them with a NoSchedule taint, so
that they run no pods. flannel's kube subnet manager leases pod subnets only
to Nodes, and the seed promises the pod network and Service IPs on "any
Kubernetes VM" ("Every VM with a Kubernetes role runs a kube-proxy").
"""
from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from kubernetes import client

from harness import artifacts
from harness.artifacts import spec
from harness.lab import resolver, templates
from harness.lab.host import HOST_BIN_DIR
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes import control_plane, dns, make_kubeconfig, network, node, pki as pki_mod
from harness.setups.parts.kubernetes.layout import (ADMIN_KUBECONFIG, CONTROL_PLANE_COMPONENTS, PART_DIR,
                                                    NODE_COMPONENTS, cluster_dns_ip)
from harness.lab.progress import Steps
from harness.lab.wait import wait_until

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.lab import Lab

#: seed 000 era: Kubernetes 1.21 shipped CoreDNS 1.8 (an artifacts image by binary name)
COREDNS = "coredns-1.8"
NETWORK = "srv"
NO_PODS = ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},)


@dataclass
class Cluster:
    """The real cluster a lab runs: what its target and its suites reach.

    The harness drives it through the API (`api`, opened on first use and
    closed with the lab); `kubectl` runs on the master, for what a person
    does there."""
    lab: Lab = field(repr=False)
    master: Host
    control_plane: control_plane.ControlPlane
    nodes: list[Host]
    frontends: list[Host]
    cluster_dns: str
    versions: dict[str, str] = field(default_factory=dict)
    #: the PKI the harness made for it (None for a lab attached again)
    pki: pki_mod.Pki | None = field(default=None, repr=False)

    @property
    def members(self) -> list[Host]:
        """Every host of the cluster: each runs a kubelet and kube-proxy."""
        return [self.master, *self.nodes, *self.frontends]

    @cached_property
    def api(self) -> client.ApiClient:
        return k8s_api.connect(self.lab, self.master, self.control_plane.address, self.pki)

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """`kubectl ARGS...` on the master, as a person there runs it; its output."""
        command = shlex.join(["kubectl", *args])
        result = self.master.run(command, input=input, timeout=timeout)
        if not result.ok:
            raise RuntimeError(f"{command} on {self.master.name}: {result.summary()}")
        return result.stdout

    def apply(self, manifests: list[dict]) -> None:
        k8s_api.apply(self.api, manifests)


def _link_binaries(host: Host, names: list[str], kubeconfig: str | None = None) -> None:
    """The components on the host's PATH (its own bin directory); kubectl
    with the cluster-admin kubeconfig as its default where one is given."""
    host.succeed(" && ".join([shlex.join(["mkdir", "-p", HOST_BIN_DIR]), *(
        shlex.join(["ln", "-sf", str(artifacts.binary(n)), f"{HOST_BIN_DIR}/{n}"]) for n in names)]))
    if kubeconfig:
        host.put_file(f"{HOST_BIN_DIR}/kubectl", templates.render(
            PART_DIR, "kubectl.sh.j2", kubeconfig=kubeconfig,
            binary=str(artifacts.binary("kubectl"))), mode=0o755)


def apply(lab: Lab, steps: Steps | None = None, coredns: str = COREDNS) -> Cluster:
    steps = steps or Steps()
    topo = lab.topology
    [master] = lab.with_role("master")
    nodes, frontends = lab.with_role("node"), lab.with_role("frontend")
    service_cidr, pod_cidr = topo.service_cidrs[0], topo.pod_cidrs[0]
    members = [master, *nodes, *frontends]
    cp = control_plane.ControlPlane(master, master.address(NETWORK), str(service_cidr), str(pod_cidr))
    cluster = Cluster(lab, master, cp, nodes, frontends, cluster_dns_ip(service_cidr),
                      {"kubernetes": spec.binary_version("kubelet"),
                       "coredns": node.IMAGES[coredns].rsplit(":", 1)[1]})
    binary = artifacts.binary("kube-apiserver")
    if not master.run(shlex.join(["test", "-x", str(binary)])).ok:
        raise RuntimeError(
            f"the Kubernetes artifacts ({binary.parent}) are not visible on the lab's hosts: "
            "netns hosts have a private /tmp, /run and /var/lib (keep HARNESS_ARTIFACTS "
            "elsewhere, default /var/cache/harness/artifacts); docker and podman hosts see them "
            "only when the engine runs on this machine")
    if master.run(shlex.join(["kubectl", f"--kubeconfig={ADMIN_KUBECONFIG}", "get", "--raw=/readyz"])).ok:
        # a lab attached again (--lab): its cluster runs; a new PKI would not match it
        return cluster

    def addresses(h):
        return [str(a) for fams in h.spec.addresses.values() for a in fams.values()]

    with steps.step(f"PKI for {len(members)} hosts (cfssl)"):
        certs = [*control_plane.certificates(master, addresses(master), service_cidr, topo.domain),
                 *(c for h in members for c in node.certificates(h, addresses(h))),
                 *node.SHARED_CERTIFICATES, network.CERTIFICATE]
        pki = cluster.pki = pki_mod.make(certs)
    with steps.step("control plane: etcd, kube-apiserver, controller-manager, scheduler"):
        # kubectl: a wrapper with the cluster-admin kubeconfig, never a link
        _link_binaries(master, [*CONTROL_PLANE_COMPONENTS, *(c for c in NODE_COMPONENTS if c != "kubectl")],
                       kubeconfig=ADMIN_KUBECONFIG)
        cp.install(pki)
        cp.wait_ready()
    cluster.apply(network.RBAC)
    # the nodes also get the upstream e2e images (`harness conformance`) the artifacts have
    images = [node.IMAGES[name] for name in ("pause", "agnhost", coredns)] + \
        artifacts.available_images(spec.E2E_REFS)

    def install_node(host):
        if host is not master:
            _link_binaries(host, NODE_COMPONENTS)
        node.Node(host, host.address(NETWORK), cp.server, cluster.cluster_dns, topo.domain,
                  str(pod_cidr), taints=() if host in nodes else NO_PODS
                  ).install(pki, images if host in nodes else images[:1])
        network.install(host, pki, cp.server, str(pod_cidr), NETWORK)
        host.put_file("/etc/resolv.conf", resolver.resolv_conf(cluster.cluster_dns, topo.domain))

    with steps.step(f"containerd, kubelet, kube-proxy, flanneld on {len(members)} hosts"):
        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            list(pool.map(install_node, members))
    with steps.step(f"{len(members)} nodes Ready, flannel up"):
        names = [h.name for h in members]
        wait_until(lambda: k8s_api.nodes_ready(cluster.api, names),
                   f"nodes {' '.join(names)} to register and be Ready", timeout=180, interval=0.5)
        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            list(pool.map(lambda h: network.route_services(h, str(service_cidr)), members))
    with steps.step(f"CoreDNS ({node.IMAGES[coredns]}) at {cluster.cluster_dns}"):
        cluster.apply(dns.manifests(node.IMAGES[coredns], cluster.cluster_dns, topo.domain))
        wait_until(lambda: k8s_api.rolled_out(cluster.api, dns.NAMESPACE, "coredns"),
                   f"deployment {dns.NAMESPACE}/coredns to roll out", timeout=180, interval=0.5)
    make_kubeconfig.install(master, cp.server)
    return cluster
