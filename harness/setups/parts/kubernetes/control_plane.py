"""The control plane on every host of the roles a setup names (seed 000/002
`master`, seed 003's master, seed 004's control planes): kube-apiserver,
kube-controller-manager and kube-scheduler under each host's supervisord,
TLS everywhere with the recipe's CA, on the etcd the recipe runs.

The apiserver listens on the host's addresses at 6443; controller-manager
and scheduler serve their health on loopback only and elect a leader where
there are several. `kubectl` on each control plane uses the cluster-admin
kubeconfig (the NixOS module's /etc/kubernetes/cluster-admin.kubeconfig,
root-only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import artifacts
from harness.artifacts import spec
from harness.lab import templates
from harness.lab.host import HOST_BIN_DIR
from harness.lab.net import bracketed
from harness.model.setups import CONTROL_PLANE_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.etcd.cluster import PKI_DIR as ETCD_PKI_DIR
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.cluster import Cluster
from harness.setups.parts.kubernetes.layout import (ADMIN_KUBECONFIG, APISERVER_PORT, CONTROL_PLANE_COMPONENTS,
                                                    K8S_DIR, PART_DIR, kubernetes_service_ip)
from harness.setups.pki import Certificate, Pki

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.setups.parts.etcd.cluster import EtcdCluster
    from harness.setups.parts.kine import Kine

#: the components that talk to the apiserver as clients, with their identity
CLIENTS = {
    "cluster-admin": ("cluster-admin", "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", ""),
    "kube-scheduler": ("system:kube-scheduler", ""),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "apiserver-etcd-client": ("kube-apiserver-etcd-client", ""),
    # one signing key for every apiserver: tokens one signs, all accept
    "service-account": ("service-account-signer", ""),
}
LOCAL_SERVER = f"https://127.0.0.1:{APISERVER_PORT}"


def host_addresses(host: Host) -> list[str]:
    return [str(a) for fams in host.spec.addresses.values() for a in fams.values()]


def link_kubectl(host: Host, admin_kubeconfig: str = ADMIN_KUBECONFIG) -> None:
    """kubectl: a wrapper with the cluster-admin kubeconfig, never a link."""
    host.put_file(f"{HOST_BIN_DIR}/kubectl", templates.render(
        PART_DIR, "kubectl.sh.j2", kubeconfig=admin_kubeconfig,
        binary=str(artifacts.binary("kubectl"))), mode=0o755)


@dataclass
class ControlPlane:
    host: Host
    address: str

    @property
    def server(self) -> str:
        return f"https://{bracketed(self.address)}:{APISERVER_PORT}"

    def install(self, cluster: Cluster, etcd: EtcdCluster | Kine, elect: bool,
                allocate_node_cidrs: bool, bootstrap_tokens: bool = False) -> None:
        h, pki = self.host, cluster.pki
        d = pki.directory
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 f"kubernetes.default.svc.{cluster.domain}", h.name, "localhost"]
        pki.provision(h, [
            Certificate(f"kube-apiserver-{h.name}", "kubernetes", "server", hosts=(
                *names, kubernetes_service_ip(cluster.service_cidr), "127.0.0.1", "::1",
                *host_addresses(h))),
            *(Certificate(name, cn, "client", org) for name, (cn, org) in CLIENTS.items())])
        # the controller-manager signs with the CA (and so does kubernetes-make-kubeconfig)
        h.put_file(f"{d}/ca-key.pem", pki.files["ca-key.pem"], mode=0o600)
        h.put_file(ADMIN_KUBECONFIG, self.kubeconfig(pki, "cluster-admin"), mode=0o600)
        for name in ("kube-controller-manager", "kube-scheduler"):
            h.put_file(f"{K8S_DIR}/{name}.kubeconfig", self.kubeconfig(pki, name), mode=0o600)
        host_binaries.link(h, CONTROL_PLANE_COMPONENTS)
        link_kubectl(h)
        if etcd.tls:
            h.put_file(f"{ETCD_PKI_DIR}/ca.crt", pki.ca)
        for name, args in self.arguments(cluster, etcd, elect, allocate_node_cidrs, bootstrap_tokens).items():
            self._define(name, args)

    def arguments(self, cluster: Cluster, etcd: EtcdCluster | Kine, elect: bool,
                  allocate_node_cidrs: bool, bootstrap_tokens: bool = False) -> dict[str, list[str]]:
        """Each control-plane component's command-line flags on this host
        (tests/test_component_flags.py checks them against the binaries)."""
        h, d = self.host, cluster.pki.directory
        etcd_tls = [f"--etcd-cafile={ETCD_PKI_DIR}/ca.crt",
                    f"--etcd-certfile={d}/apiserver-etcd-client.pem",
                    f"--etcd-keyfile={d}/apiserver-etcd-client-key.pem"] if etcd.tls else []
        kcm = f"{K8S_DIR}/kube-controller-manager.kubeconfig"
        sched = f"{K8S_DIR}/kube-scheduler.kubeconfig"
        cidrs = (["--allocate-node-cidrs=true", f"--cluster-cidr={cluster.pod_cidr}",
                  "--node-cidr-mask-size=24"] if allocate_node_cidrs else ["--allocate-node-cidrs=false"])
        return {
            "kube-apiserver": [
                f"--advertise-address={self.address}", f"--secure-port={APISERVER_PORT}",
                f"--etcd-servers={','.join(etcd.client_urls)}", *etcd_tls,
                f"--tls-cert-file={d}/kube-apiserver-{h.name}.pem",
                f"--tls-private-key-file={d}/kube-apiserver-{h.name}-key.pem",
                f"--client-ca-file={d}/ca.pem",
                f"--kubelet-certificate-authority={d}/ca.pem",
                f"--kubelet-client-certificate={d}/apiserver-kubelet-client.pem",
                f"--kubelet-client-key={d}/apiserver-kubelet-client-key.pem",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-cluster-ip-range={cluster.service_cidr}",
                f"--service-account-key-file={d}/service-account-key.pem",
                f"--service-account-signing-key-file={d}/service-account-key.pem",
                "--service-account-issuer=https://kubernetes.default.svc",
                # seed 002: "RBAC on by default"; anonymous requests get no permission
                "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                # seed 001: agents join with a token (Kubernetes bootstrap tokens, kubelet TLS bootstrapping)
                *(["--enable-bootstrap-token-auth=true"] if bootstrap_tokens else [])],
            "kube-controller-manager": [
                f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
                f"--authorization-kubeconfig={kcm}", "--bind-address=127.0.0.1", *cidrs,
                f"--service-cluster-ip-range={cluster.service_cidr}",
                f"--cluster-signing-cert-file={d}/ca.pem",
                f"--cluster-signing-key-file={d}/ca-key.pem",
                f"--root-ca-file={d}/ca.pem",
                f"--service-account-private-key-file={d}/service-account-key.pem",
                "--use-service-account-credentials=true", f"--leader-elect={str(elect).lower()}",
                # expired bootstrap tokens are removed, as kubeadm's and k3s's clusters do
                *(["--controllers=*,bootstrapsigner,tokencleaner"] if bootstrap_tokens else [])],
            "kube-scheduler": [
                f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}", "--bind-address=127.0.0.1",
                f"--leader-elect={str(elect).lower()}"],
        }

    def kubeconfig(self, pki: Pki, name: str) -> str:
        """A component's kubeconfig for this host's own apiserver."""
        return kubeconfig.render(LOCAL_SERVER, pki.ca, CLIENTS[name][0], pki.cert(name), pki.key(name))

    def _define(self, name: str, args: list[str]) -> None:
        self.host.service(name).define([str(artifacts.binary(name)), *args], autostart=True,
                                       autorestart=True, startsecs=0)

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the apiserver says it is ready (etcd reached, bootstrap done)."""
        self.host.wait_until_succeeds(
            f"kubectl --kubeconfig={ADMIN_KUBECONFIG} get --raw=/readyz", timeout=timeout)


@declares(needs=("pki", "etcd"), provides=("kubernetes",))
def apply(lab, target, roles=CONTROL_PLANE_ROLES, network: str | None = None,
          allocate_node_cidrs: bool = True, bootstrap_tokens: bool = False) -> None:
    """The control plane on every host with one of `roles`, the apiserver
    advertised on `network` (the host's first network by default), on the
    recipe's etcd (etcd members, or kine on PostgreSQL). With
    `allocate_node_cidrs` the controller-manager gives each Node its pod
    subnet (flannel's kube subnet manager reads it); seed 003's flannel
    leases subnets from etcd instead. With `bootstrap_tokens` the apiserver
    accepts bootstrap tokens and the controller-manager cleans expired ones
    (seed 001's token joins)."""
    topo = lab.topology
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    family = "ipv4" if "ipv4" in topo.families else "ipv6"
    planes = [ControlPlane(h, h.address(network, family)) for h in hosts]
    cluster = Cluster(lab, planes, target.pki, topo.domain, str(topo.service_cidrs[0]),
                      str(topo.pod_cidrs[0]), versions={"kubernetes": spec.binary_version("kubelet")})
    for plane in planes:
        plane.install(cluster, target.etcd, elect=len(planes) > 1,
                      allocate_node_cidrs=allocate_node_cidrs, bootstrap_tokens=bootstrap_tokens)
    for plane in planes:
        plane.wait_ready()
    target.provide("kubernetes", cluster, "k8s-api")
