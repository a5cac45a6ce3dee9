"""kube-proxy in iptables mode on the hosts a setup runs it on (seed 000:
"Every VM with a Kubernetes role runs a kube-proxy"; seed 002's master and
nodes; seed 003's workers). It leaves the machine-wide conntrack sysctls
alone (`maxPerCore: 0`): the machine's table size is not a lab's to change.
"""
from __future__ import annotations


import yaml

from harness import artifacts
from harness.lab.timeline import on_hosts
from harness.model.setups import KUBERNETES_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.layout import K8S_DIR
from harness.setups.parts.kubernetes.workloads import KubeProxy
from harness.setups.pki import Certificate

CERTIFICATE = Certificate("kube-proxy", "system:kube-proxy", "client")
#: conntrack settings that change no machine-wide sysctl
KEEP_CONNTRACK = {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}


def install(host, cluster, address: str) -> None:
    d = cluster.pki.directory
    cluster.pki.provision(host, [CERTIFICATE])
    host.put_file(f"{K8S_DIR}/kube-proxy.kubeconfig", kubeconfig.render_files(
        cluster.server, f"{d}/ca.pem", CERTIFICATE.cn, f"{d}/kube-proxy.pem", f"{d}/kube-proxy-key.pem"),
        mode=0o600)
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "iptables", "clusterCIDR": cluster.pod_cidr, "hostnameOverride": host.name,
        "bindAddress": address,
        "clientConnection": {"kubeconfig": f"{K8S_DIR}/kube-proxy.kubeconfig"},
        "metricsBindAddress": "127.0.0.1:10249", "healthzBindAddress": "127.0.0.1:10256",
        "conntrack": KEEP_CONNTRACK,
    }
    host.put_file(f"{K8S_DIR}/kube-proxy.yaml", yaml.safe_dump(config, sort_keys=False))
    host_binaries.link(host, ["kube-proxy"])
    host.service("kube-proxy").define([
        str(artifacts.binary("kube-proxy")), f"--config={K8S_DIR}/kube-proxy.yaml"],
        autostart=True, autorestart=True, startsecs=0)


@declares(needs=("pki", "kubernetes", "pod_network"), provides=("service_proxy",))
def apply(lab, target, roles=KUBERNETES_ROLES, network: str | None = None) -> None:
    """kube-proxy on every host with one of `roles`. Suites reach Service IPs
    from those of them that also reach pods (a Service IP is DNATed to a pod)."""
    cluster = target.kubernetes
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    family = "ipv4" if "ipv4" in lab.topology.families else "ipv6"
    on_hosts(hosts, lambda h: install(h, cluster, h.address(network, family)))
    cluster.proxies = hosts
    target.provide("service_proxy", KubeProxy([h for h in hosts if target.pod_network.reaches_pods(h)]),
                   "service-proxy")
