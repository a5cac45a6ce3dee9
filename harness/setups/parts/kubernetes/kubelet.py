"""Nodes (seed 000 kubernetes-node: "run pods that are assigned to them by
the master ... They automatically register with the master"): containerd
and kubelet under the host's supervisord, on the roles a recipe names.

Several kubelets share this machine, so each gets what a kind node has
(issue and DESIGN: "Real Kubernetes on lab hosts"): the host's own cgroup
subtree and cgroup namespace (provisioners make it), `cgroupDriver:
cgroupfs`, its own containerd root, state and socket, `/var/lib/containerd`
on a plain directory. The images the components expect are imported into
each node's containerd under their exact names (there is no registry), and
image GC is off (`imageGCHighThresholdPercent: 100`): an image deleted here
could never be pulled again.

kubelet, as on any node, sets the kernel
defaults it wants (vm.overcommit_memory, kernel.panic), which are global.
So are the inotify limits, raised (never lowered) to kind's figures before
the first kubelet starts: kubelet, cAdvisor, containerd and its shims each
hold inotify instances, and the kernel's default of 128 per user runs out
with about two clusters on one machine (kubelet then logs "inotify_init: too
many open files" and never registers its node).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from harness import artifacts
from harness.artifacts import spec
from harness.lab import templates
from harness.lab.timeline import on_hosts
from harness.lab.wait import wait_until
from harness.model.setups import KUBERNETES_ROLES
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes import bootstrap_token, kubeconfig
from harness.setups.parts.kubernetes.control_plane import host_addresses
from harness.setups.parts.kubernetes.layout import (CNI_CONF_DIR, CONTAINERD_BLOBS, CONTAINERD_ROOT,
                                                    CONTAINERD_SOCKET, K8S_DIR, NODE_COMPONENTS, PART_DIR,
                                                    cluster_dns_ip)
from harness.setups.pki import Certificate

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.setups.parts.kubernetes.cluster import Cluster


#: image name by the binary it holds: the names the components pull
IMAGES = spec.IMAGE_REFS
SANDBOX_IMAGE = IMAGES["pause"]
KUBELET_PORT = 10250
#: kind's known issue "Pod errors due to too many open files"
INOTIFY_LIMITS = {"fs.inotify.max_user_instances": 512, "fs.inotify.max_user_watches": 524288}
NO_PODS = ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},)
KUBECONFIG = f"{K8S_DIR}/kubelet.kubeconfig"
#: where a bootstrapped kubelet keeps the certificates it was issued
CERT_DIR = "/var/lib/kubelet/pki"
JOINS = ("certificates", "token")
#: what every kubelet on this machine needs, however it is configured (here,
#: or by kubeadm from its KubeletConfiguration): the host's cgroup subtree,
#: no swap or cgroup v2 demands, no image GC, no resolver outside the lab
MACHINE_SETTINGS = {
    "cgroupDriver": "cgroupfs", "cgroupRoot": "/",
    "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
    # pods with dnsPolicy Default (CoreDNS itself) get no resolver: nothing outside the lab
    "resolvConf": "",
    "failSwapOn": False, "failCgroupV1": False,
    "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
    "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
    "serializeImagePulls": False,
}


class ImageIncomplete(RuntimeError):
    """An image was imported without all of its content."""


def import_images(host: Host, refs: list[str]) -> None:
    """Each image into the host's containerd, under its exact name (no
    registry); an archive several of them share (the e2e images) once; every
    image checked complete (else ImageIncomplete, naming what is missing).

    No layer is copied: where the build split the archive and the host sees
    the artifact set, the archive's thin copy is imported (the images,
    referring to their layers), then each layer file is linked into the
    host's content store and recorded there by its digest (containerd's
    shared content: nothing read). In that order a layer is referred to
    before it is recorded, so containerd's garbage collector, which may run
    between two commands, never finds it unreferenced. Every host keeps its
    own containerd, metadata and snapshots; content is addressed by its
    digest, never written through a link."""
    ctr = ["ctr", "-a", CONTAINERD_SOCKET, "-n", "k8s.io"]
    for archive in dict.fromkeys(artifacts.image(ref) for ref in refs):
        split = artifacts.image_split(archive)
        whole = shlex.join([*ctr, "images", "import", "--no-unpack", str(archive)])
        if split is None:
            host.succeed(whole, timeout=300)
            continue
        thin, blobs = split
        steps = [shlex.join([*ctr, "images", "import", "--no-unpack", str(thin)]),
                 shlex.join(["mkdir", "-p", CONTAINERD_BLOBS])]
        for blob in sorted(blobs.iterdir()):
            link = f"{CONTAINERD_BLOBS}/{blob.name}"
            steps += [f"{{ [ -e {link} ] || ln -s {shlex.quote(str(blob))} {link}; }}",
                      shlex.join([*ctr, "content", "ingest", f"--expected-digest=sha256:{blob.name}",
                                  f"--expected-size={blob.stat().st_size}", f"harness-{blob.name}"])
                      + f" < {shlex.quote(str(blob))}"]
        # a host that does not see the artifact set imports the whole archive
        host.succeed(f"if [ -d {shlex.quote(str(blobs))} ]; then {' && '.join(steps)}; else {whole}; fi",
                     timeout=300)
    listed = host.succeed(shlex.join([*ctr, "images", "check"]))
    status = {line.split()[0]: line for line in listed.splitlines()[1:] if line.strip()}
    incomplete = [status.get(ref, f"{ref} not listed") for ref in refs
                  if not re.search(r"\scomplete\s", status.get(ref, ""))]
    if incomplete:
        raise ImageIncomplete(f"images incomplete in {host.name}'s containerd:\n" + "\n".join(incomplete))


def raise_inotify_limits(host: Host) -> None:
    """At least INOTIFY_LIMITS on the kernel this host runs on."""
    host.succeed(" && ".join(
        f"{{ [ \"$(sysctl -n {key})\" -ge {value} ] || sysctl -qw {key}={value}; }}"
        for key, value in INOTIFY_LIMITS.items()))


def run_containerd(host: Host, images: list[str]) -> None:
    """containerd under the host's supervisord, with `images` imported."""
    host.put_file("/etc/containerd/config.toml", templates.render(
        PART_DIR, "containerd.toml.j2", host=host.name, root=CONTAINERD_ROOT, socket=CONTAINERD_SOCKET,
        sandbox_image=SANDBOX_IMAGE, cni_bin_dir=str(artifacts.cni_dir()), cni_conf_dir=CNI_CONF_DIR))
    host.service("containerd").define(
        ["containerd", "--config", "/etc/containerd/config.toml"], autostart=True,
        autorestart=True, startsecs=0)
    host.wait_until_succeeds(f"ctr -a {CONTAINERD_SOCKET} version", timeout=30)
    import_images(host, images)


def pod_images() -> list[str]:
    """The images a node's pods run: the sandbox and the workloads' server
    (CoreDNS brings its own). The upstream e2e images come only with an
    upstream conformance run (import_e2e_images): 264 MB into every node's
    containerd that the suites never run."""
    return [IMAGES["pause"], IMAGES["agnhost"]]


def import_e2e_images(target) -> list[str]:
    """The upstream e2e images the artifact set has, into every kubelet's
    containerd (`harness conformance` on a lab: no registry to pull them
    from); the names imported."""
    refs = artifacts.available_images(spec.E2E_REFS)
    on_hosts(target.kubelets, lambda host: import_images(host, refs))
    return refs


def certificates(host: Host) -> list[Certificate]:
    return [
        Certificate(f"kubelet-client-{host.name}", f"system:node:{host.name}", "client", "system:nodes"),
        Certificate(f"kubelet-{host.name}", f"system:node:{host.name}", "server",
                    "system:nodes", hosts=(host.name, *host_addresses(host))),
    ]


@dataclass
class Node:
    host: Host
    address: str
    cluster: Cluster
    cluster_dns: str
    #: seed 000's master and frontend run no pods
    taints: tuple[dict, ...] = ()
    #: seed 001: join with this bootstrap token (TLS bootstrapping) instead of certificates
    token: str | None = field(default=None, repr=False)

    def install(self) -> None:
        h, d = self.host, self.cluster.pki.directory
        if self.token:
            bootstrap_token.bootstrap_kubeconfig(h, self.cluster, self.token)
        else:
            h.put_file(KUBECONFIG, kubeconfig.render_files(
                self.cluster.server, f"{d}/ca.pem", f"system:node:{h.name}",
                f"{d}/kubelet-client-{h.name}.pem", f"{d}/kubelet-client-{h.name}-key.pem"), mode=0o600)
        on_path = NODE_COMPONENTS if h in (p.host for p in self.cluster.control_planes) \
            else [*NODE_COMPONENTS, "kubectl"]
        host_binaries.link(h, on_path)
        self._kubelet()

    def _kubelet(self) -> None:
        h, d = self.host, self.cluster.pki.directory
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.address, "port": KUBELET_PORT, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            **MACHINE_SETTINGS,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": f"{d}/ca.pem"}},
            "authorization": {"mode": "Webhook"},
            **({"serverTLSBootstrap": True, "rotateCertificates": True} if self.token else
               {"tlsCertFile": f"{d}/kubelet-{h.name}.pem",
                "tlsPrivateKeyFile": f"{d}/kubelet-{h.name}-key.pem"}),
            "clusterDomain": self.cluster.domain, "clusterDNS": [self.cluster_dns],
            "registerWithTaints": list(self.taints),
        }
        h.put_file(f"{K8S_DIR}/kubelet.yaml", yaml.safe_dump(config, sort_keys=False))
        h.succeed("mkdir -p /var/lib/kubelet " + CNI_CONF_DIR)
        h.service("kubelet").define([
            str(artifacts.binary("kubelet")), f"--config={K8S_DIR}/kubelet.yaml",
            f"--kubeconfig={KUBECONFIG}", f"--node-ip={self.address}",
            # with a token, kubelet writes --kubeconfig itself once its CSR is signed
            *([f"--bootstrap-kubeconfig={bootstrap_token.BOOTSTRAP_KUBECONFIG}",
               f"--cert-dir={CERT_DIR}"] if self.token else []),
            f"--hostname-override={h.name}"], autostart=True, autorestart=True, startsecs=0)


@declares(provides=("container_runtime",))
def containerd(lab, target, roles=KUBERNETES_ROLES, no_pods=frozenset()) -> None:
    """containerd on every host with one of `roles`, with the images its pods
    run (the sandbox alone on hosts with one of `no_pods`). It needs nothing
    of the cluster, so it comes up while the control plane does."""
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    images = pod_images()

    def install(host):
        raise_inotify_limits(host)
        run_containerd(host, images[:1] if set(host.roles) & no_pods else images)
    on_hosts(hosts, install)
    target.provide("container_runtime", hosts)


@declares(needs=("pki", "kubernetes", "container_runtime"), provides=("kubelets",))
def apply(lab, target, roles=KUBERNETES_ROLES, no_pods=frozenset(), network: str | None = None,
          join: str = "certificates") -> None:
    """kubelet on every host with one of `roles` (containerd runs there),
    registering itself; hosts with one of `no_pods` register with a NoSchedule taint.
    Each node's credentials come the recipe's way: with `join="certificates"`
    target.pki.provision's (put there, or joined with the CA daemon's token);
    with `join="token"` a bootstrap token the server holds (seed 001, see
    bootstrap_token)."""
    if join not in JOINS:
        raise ValueError(f"kubelet join {join!r} is not one of {JOINS}")
    cluster = target.kubernetes
    hosts = [h for h in lab.hosts.values() if set(h.roles) & roles]
    dns = cluster_dns_ip(cluster.service_cidr)
    family = "ipv4" if "ipv4" in lab.topology.families else "ipv6"
    token = None
    if join == "token":
        bootstrap_token.create(cluster)
        # the admin reads the server's token and gives it to each agent
        token = bootstrap_token.token_on_server(cluster)

    def install(host):
        cluster.pki.provision(host, [] if token else certificates(host))
        schedulable = not set(host.roles) & no_pods
        Node(host, host.address(network, family), cluster, dns, () if schedulable else NO_PODS,
             token).install()

    on_hosts(hosts, install)
    names = [h.name for h in hosts]
    # Ready comes with the pod network (a CNI config), which a later part installs
    wait_until(lambda: k8s_api.nodes_registered(cluster.api, names),
               f"nodes {' '.join(names)} to register", timeout=180, interval=0.5)
    if token:
        bootstrap_token.approve_serving_certificates(cluster, names)
    cluster.kubelets = hosts
    target.provide("kubelets", hosts, *(["token-join"] if token else []))
