"""What this machine has of the harness's prerequisites, and how to get the rest."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Prerequisite:
    what: str
    command: str          # a command on PATH that shows it is there
    needed_for: str
    install: str          # the command that installs it

    def present(self) -> bool:
        return shutil.which(self.command) is not None


def apt(package: str) -> str:
    return f"apt-get install -y {package}"


PREREQUISITES = [
    Prerequisite("iproute2", "ip", "netns labs", apt("iproute2")),
    Prerequisite("util-linux unshare/nsenter", "nsenter", "netns labs", apt("util-linux")),
    Prerequisite("supervisord", "supervisord", "services on lab hosts", apt("supervisor")),
    Prerequisite("OpenSSH server", "sshd", "--ssh hosts (testinfra ssh://)", apt("openssh-server")),
    Prerequisite("socat", "socat", "ssh into netns hosts", apt("socat")),
    Prerequisite("etcd", "etcd", "etcd in centos-hardway and kubeadm-ha", apt("etcd-server etcd-client")),
    Prerequisite("HAProxy", "haproxy", "the frontend", apt("haproxy")),
    Prerequisite("BIND", "named", "cluster DNS", apt("bind9 bind9-utils bind9-dnsutils")),
    Prerequisite("BIRD 2", "bird", "BGP in kubeadm-ha", apt("bird2")),
    Prerequisite("nginx", "nginx", "the k3s webgateway", apt("nginx")),
    Prerequisite("PostgreSQL", "pg_ctlcluster", "the k3s datastore", apt("postgresql")),
    Prerequisite("nfs-ganesha", "ganesha.nfsd", "NFS claims", apt("nfs-ganesha nfs-ganesha-vfs")),
    Prerequisite("libnfs tools", "nfs-cp", "NFS client side", apt("libnfs-utils")),
    Prerequisite("CNI plugins", "/usr/lib/cni/bridge", "pods", apt("containernetworking-plugins")),
    Prerequisite("cfssl", "cfssl", "cluster PKI", apt("golang-cfssl")),
    Prerequisite("tcpdump", "tcpdump", "captures in the reachability suite", apt("tcpdump")),
    Prerequisite("Mininet", "mn", "benchmarks/lab_up.py peer", apt("mininet")),
    Prerequisite("docker engine", "dockerd", "the docker provisioner", apt("docker.io")),
    Prerequisite("podman", "podman", "the podman provisioner", apt("podman")),
    Prerequisite("libvirt", "libvirtd", "the libvirt provisioner", apt("libvirt-daemon-system qemu-system-x86")),
    Prerequisite("debootstrap", "debootstrap", "host images", apt("debootstrap")),
    Prerequisite("kubectl", "kubectl", "the kubernetes target", "a kubectl binary on PATH"),
]


def check() -> list[tuple[Prerequisite, bool]]:
    return [(p, p.present() if not p.command.startswith("/") else os.path.exists(p.command))
            for p in PREREQUISITES]


def kubernetes_artifacts() -> dict[str, str | None]:
    """Each Kubernetes artifact the harness uses -> its version in the cache, or
    None when absent (`harness artifacts build` or `import` provides them)."""
    from harness import artifacts
    from harness.artifacts import spec
    found = artifacts.current()
    wanted = [*spec.BINARIES, *(i.ref for i in spec.IMAGES)]
    have = {a.name: a.version for a in found.manifest.artifacts} if found else {}
    return {name: have.get(name) for name in wanted}
