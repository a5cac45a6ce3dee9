"""The node role (seed 000 kubernetes-node: "run pods that are assigned to
them by the master ... They automatically register with the master"):
containerd, kubelet and kube-proxy under the host's supervisord.

Several kubelets share this machine, so each gets what a kind node has
(issue and DESIGN: "Real Kubernetes on lab hosts"): the host's own cgroup
subtree and cgroup namespace (provisioners make it), `cgroupDriver:
cgroupfs`, its own containerd root, state and socket, `/var/lib/containerd`
on a plain directory. The images the components expect are imported into
each node's containerd under their exact names (there is no registry), and
image GC is off (`imageGCHighThresholdPercent: 100`): an image deleted here
could never be pulled again.

kube-proxy runs in iptables mode and leaves the machine-wide conntrack
sysctls alone (`maxPerCore: 0`); kubelet, as on any node, sets the kernel
defaults it wants (vm.overcommit_memory, kernel.panic), which are global.
So are the inotify limits, raised (never lowered) to kind's figures before
the first kubelet starts: kubelet, cAdvisor, containerd and its shims each
hold inotify instances, and the kernel's default of 128 per user runs out
with about two clusters on one machine (kubelet then logs "inotify_init: too
many open files" and never registers its node).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from harness import artifacts
from harness.artifacts import spec
from harness.lab import templates
from harness.setups.parts.kubernetes import kubeconfig
from harness.setups.parts.kubernetes.layout import (CNI_CONF_DIR, CONTAINERD_SOCKET, K8S_DIR, PART_DIR,
                                                    PKI_DIR)
from harness.setups.parts.kubernetes.pki import Certificate, Pki

if TYPE_CHECKING:
    from harness.lab.host import Host


#: image name by the binary it holds: the names the components pull
IMAGES = spec.IMAGE_REFS
SANDBOX_IMAGE = IMAGES["pause"]
KUBELET_PORT = 10250
#: kind's known issue "Pod errors due to too many open files"
INOTIFY_LIMITS = {"fs.inotify.max_user_instances": 512, "fs.inotify.max_user_watches": 524288}


def certificates(host: Host, addresses: list[str]) -> list[Certificate]:
    return [
        Certificate(f"kubelet-{host.name}", f"system:node:{host.name}", "client", "system:nodes"),
        Certificate(f"kubelet-serving-{host.name}", f"system:node:{host.name}", "server",
                    "system:nodes", hosts=(host.name, *addresses)),
    ]


SHARED_CERTIFICATES = [Certificate("kube-proxy", "system:kube-proxy", "client")]


@dataclass
class Node:
    host: Host
    address: str
    server: str
    cluster_dns: str
    domain: str
    pod_cidr: str
    #: seed 000's frontend "access[es] the cluster network" but runs no pods
    taints: tuple[dict, ...] = ()

    def install(self, pki: Pki, images: list[str]) -> None:
        h = self.host
        h.put_file(f"{PKI_DIR}/ca.pem", pki.ca)
        for name in (f"kubelet-serving-{h.name}",):
            h.put_file(f"{PKI_DIR}/kubelet.pem", pki.cert(name))
            h.put_file(f"{PKI_DIR}/kubelet-key.pem", pki.key(name), mode=0o600)
        h.put_file(f"{K8S_DIR}/kubelet.kubeconfig", kubeconfig.render(
            self.server, pki.ca, f"system:node:{h.name}", pki.cert(f"kubelet-{h.name}"),
            pki.key(f"kubelet-{h.name}")), mode=0o600)
        h.put_file(f"{K8S_DIR}/kube-proxy.kubeconfig", kubeconfig.render(
            self.server, pki.ca, "system:kube-proxy", pki.cert("kube-proxy"), pki.key("kube-proxy")),
            mode=0o600)
        self._inotify_limits()
        self._containerd(images)
        self._kubelet()
        self._kube_proxy()

    def _inotify_limits(self) -> None:
        """At least INOTIFY_LIMITS on the kernel this host runs on."""
        self.host.succeed(" && ".join(
            f"{{ [ \"$(sysctl -n {key})\" -ge {value} ] || sysctl -qw {key}={value}; }}"
            for key, value in INOTIFY_LIMITS.items()))

    def _containerd(self, images: list[str]) -> None:
        h = self.host
        h.put_file("/etc/containerd/config.toml", templates.render(
            PART_DIR, "containerd.toml.j2", host=h.name, socket=CONTAINERD_SOCKET,
            sandbox_image=SANDBOX_IMAGE, cni_bin_dir=str(artifacts.cni_dir()), cni_conf_dir=CNI_CONF_DIR))
        h.service("containerd").define(
            ["containerd", "--config", "/etc/containerd/config.toml"], autostart=True,
            autorestart=True, startsecs=0)
        h.wait_until_succeeds(f"ctr -a {CONTAINERD_SOCKET} version", timeout=30)
        for archive in dict.fromkeys(artifacts.image(ref) for ref in images):  # e2e images share one
            h.succeed(shlex.join(["ctr", "-a", CONTAINERD_SOCKET, "-n", "k8s.io", "images", "import",
                                  "--no-unpack", str(archive)]), timeout=300)

    def _kubelet(self) -> None:
        h = self.host
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.address, "port": KUBELET_PORT, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "cgroupDriver": "cgroupfs", "cgroupRoot": "/",
            "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": f"{PKI_DIR}/ca.pem"}},
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": f"{PKI_DIR}/kubelet.pem", "tlsPrivateKeyFile": f"{PKI_DIR}/kubelet-key.pem",
            "clusterDomain": self.domain, "clusterDNS": [self.cluster_dns],
            # pods with dnsPolicy Default (CoreDNS itself) get no resolver: nothing outside the lab
            "resolvConf": "",
            "failSwapOn": False, "failCgroupV1": False,
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%"},
            "registerWithTaints": list(self.taints),
            "serializeImagePulls": False,
        }
        h.put_file(f"{K8S_DIR}/kubelet.yaml", yaml.safe_dump(config, sort_keys=False))
        h.succeed("mkdir -p /var/lib/kubelet " + CNI_CONF_DIR)
        h.service("kubelet").define([
            str(artifacts.binary("kubelet")), f"--config={K8S_DIR}/kubelet.yaml",
            f"--kubeconfig={K8S_DIR}/kubelet.kubeconfig", f"--node-ip={self.address}",
            f"--hostname-override={h.name}"], autostart=True, autorestart=True, startsecs=0)

    def _kube_proxy(self) -> None:
        h = self.host
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clusterCIDR": self.pod_cidr, "hostnameOverride": h.name,
            "bindAddress": self.address,
            "clientConnection": {"kubeconfig": f"{K8S_DIR}/kube-proxy.kubeconfig"},
            "metricsBindAddress": "127.0.0.1:10249", "healthzBindAddress": "127.0.0.1:10256",
            # the machine's conntrack table size is not a lab's to change
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        }
        h.put_file(f"{K8S_DIR}/kube-proxy.yaml", yaml.safe_dump(config, sort_keys=False))
        h.service("kube-proxy").define([
            str(artifacts.binary("kube-proxy")), f"--config={K8S_DIR}/kube-proxy.yaml"],
            autostart=True, autorestart=True, startsecs=0)
