"""The master role (seed 000 kubernetes-master, seed 002 `roles = ["master"]`):
etcd, kube-apiserver, kube-controller-manager and kube-scheduler, each a
service of the master's supervisord, TLS everywhere with the cfssl PKI.

etcd listens on loopback only (the master's apiserver is its one client);
the apiserver on the master's addresses at 6443; controller-manager and
scheduler serve their health on loopback only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import artifacts
from harness.lab.net import bracketed
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.layout import (ADMIN_KUBECONFIG, APISERVER_PORT, K8S_DIR, PKI_DIR,
                                 kubernetes_service_ip)
from harness.setups.parts.kubernetes.pki import Certificate, Pki

if TYPE_CHECKING:
    from harness.lab.host import Host

ETCD_DATA = "/var/lib/etcd"
#: the components that talk to the apiserver as clients, with their identity
CLIENTS = {
    "cluster-admin": ("cluster-admin", "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", ""),
    "kube-scheduler": ("system:kube-scheduler", ""),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "apiserver-etcd-client": ("kube-apiserver-etcd-client", ""),
    "service-account": ("service-account-signer", ""),
}


def certificates(master: Host, addresses: list[str], service_cidr, domain: str) -> list[Certificate]:
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
             f"kubernetes.default.svc.{domain}", master.name, "localhost"]
    return [
        Certificate("kube-apiserver", "kubernetes", "server",
                    hosts=(*names, kubernetes_service_ip(service_cidr), "127.0.0.1", *addresses)),
        Certificate("etcd", "etcd", "peer", hosts=("127.0.0.1", "localhost", master.name)),
        *(Certificate(name, cn, "client", org) for name, (cn, org) in CLIENTS.items()),
    ]


@dataclass
class ControlPlane:
    master: Host
    address: str
    service_cidr: str
    pod_cidr: str

    @property
    def server(self) -> str:
        return f"https://{bracketed(self.address)}:{APISERVER_PORT}"

    def kubeconfig_for(self, pki: Pki, name: str, server: str | None = None) -> str:
        cn = CLIENTS[name][0] if name in CLIENTS else name
        return kubeconfig.render(server or self.server, pki.ca, cn, pki.cert(name), pki.key(name))

    def install(self, pki: Pki) -> None:
        m = self.master
        for name in ("ca", "kube-apiserver", "etcd", *CLIENTS):
            m.put_file(f"{PKI_DIR}/{name}.pem", pki.cert(name) if name != "ca" else pki.ca)
            if name != "ca":
                m.put_file(f"{PKI_DIR}/{name}-key.pem", pki.key(name), mode=0o600)
        m.put_file(f"{PKI_DIR}/ca-key.pem", pki.files["ca-key.pem"], mode=0o600)
        local = "https://127.0.0.1:6443"
        m.put_file(ADMIN_KUBECONFIG, self.kubeconfig_for(pki, "cluster-admin", local), mode=0o600)
        for name in ("kube-controller-manager", "kube-scheduler"):
            m.put_file(f"{K8S_DIR}/{name}.kubeconfig", self.kubeconfig_for(pki, name, local), mode=0o600)
        m.succeed(f"mkdir -p {ETCD_DATA} && chmod 700 {ETCD_DATA}")
        self._define("etcd", [
            "--name", m.name, "--data-dir", ETCD_DATA,
            "--listen-client-urls", "https://127.0.0.1:2379",
            "--advertise-client-urls", "https://127.0.0.1:2379",
            "--listen-peer-urls", "https://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "https://127.0.0.1:2380",
            "--initial-cluster", f"{m.name}=https://127.0.0.1:2380",
            "--cert-file", f"{PKI_DIR}/etcd.pem", "--key-file", f"{PKI_DIR}/etcd-key.pem",
            "--peer-cert-file", f"{PKI_DIR}/etcd.pem", "--peer-key-file", f"{PKI_DIR}/etcd-key.pem",
            "--trusted-ca-file", f"{PKI_DIR}/ca.pem", "--peer-trusted-ca-file", f"{PKI_DIR}/ca.pem",
            "--client-cert-auth", "--peer-client-cert-auth",
            "--listen-metrics-urls", "http://127.0.0.1:2381"])
        self._define("kube-apiserver", [
            f"--advertise-address={self.address}", f"--secure-port={APISERVER_PORT}",
            "--etcd-servers=https://127.0.0.1:2379", f"--etcd-cafile={PKI_DIR}/ca.pem",
            f"--etcd-certfile={PKI_DIR}/apiserver-etcd-client.pem",
            f"--etcd-keyfile={PKI_DIR}/apiserver-etcd-client-key.pem",
            f"--tls-cert-file={PKI_DIR}/kube-apiserver.pem",
            f"--tls-private-key-file={PKI_DIR}/kube-apiserver-key.pem",
            f"--client-ca-file={PKI_DIR}/ca.pem",
            f"--kubelet-certificate-authority={PKI_DIR}/ca.pem",
            f"--kubelet-client-certificate={PKI_DIR}/apiserver-kubelet-client.pem",
            f"--kubelet-client-key={PKI_DIR}/apiserver-kubelet-client-key.pem",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-cluster-ip-range={self.service_cidr}",
            f"--service-account-key-file={PKI_DIR}/service-account-key.pem",
            f"--service-account-signing-key-file={PKI_DIR}/service-account-key.pem",
            "--service-account-issuer=https://kubernetes.default.svc",
            # seed 002: "RBAC on by default"
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true"])
        kcm_kubeconfig = f"{K8S_DIR}/kube-controller-manager.kubeconfig"
        self._define("kube-controller-manager", [
            f"--kubeconfig={kcm_kubeconfig}", f"--authentication-kubeconfig={kcm_kubeconfig}",
            f"--authorization-kubeconfig={kcm_kubeconfig}", "--bind-address=127.0.0.1",
            "--allocate-node-cidrs=true", f"--cluster-cidr={self.pod_cidr}",
            "--node-cidr-mask-size=24", f"--service-cluster-ip-range={self.service_cidr}",
            f"--cluster-signing-cert-file={PKI_DIR}/ca.pem",
            f"--cluster-signing-key-file={PKI_DIR}/ca-key.pem",
            f"--root-ca-file={PKI_DIR}/ca.pem",
            f"--service-account-private-key-file={PKI_DIR}/service-account-key.pem",
            "--use-service-account-credentials=true", "--leader-elect=false"])
        sched_kubeconfig = f"{K8S_DIR}/kube-scheduler.kubeconfig"
        self._define("kube-scheduler", [
            f"--kubeconfig={sched_kubeconfig}", f"--authentication-kubeconfig={sched_kubeconfig}",
            f"--authorization-kubeconfig={sched_kubeconfig}", "--bind-address=127.0.0.1",
            "--leader-elect=false"])

    def _define(self, name: str, args: list[str]) -> None:
        self.master.service(name).define([str(artifacts.binary(name)), *args], autostart=True,
                                         autorestart=True, startsecs=0)

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the apiserver says it is ready (etcd reached, bootstrap done)."""
        self.master.wait_until_succeeds(
            f"kubectl --kubeconfig={ADMIN_KUBECONFIG} get --raw=/readyz", timeout=timeout)
