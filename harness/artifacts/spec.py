"""What the artifact cache holds: the Go builds and the images made of them.

Versions are read from the Go modules under `go/` (the `require` line of the
component's module), so go.mod is the one place a version is pinned; the
constants here are the tags of things with their own version numbering: our
pause (no module of its own) and agnhost (a package inside k8s.io/kubernetes).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GO_DIR = Path(__file__).parent / "go"

#: kubeadm 1.34's PauseVersion, the sandbox image kubelet and containerd are told to use
PAUSE_VERSION = "3.10.1"
#: test/utils/image/manifest.go of Kubernetes 1.34: agnhost 2.56
AGNHOST_TAG = "2.56"


@cache
def required_version(module_dir: str, module: str) -> str:
    """The version `module_dir`/go.mod requires of `module`."""
    text = (GO_DIR / module_dir / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not found:
        raise LookupError(f"{module_dir}/go.mod requires no {module}")
    return found.group(1)


@dataclass(frozen=True)
class GoBuild:
    """One `go build` run in one of our modules, making one binary."""
    name: str                   #: the output file under bin/
    module_dir: str             #: our module, under go/
    package: str                #: what `go build` builds ("." is our own main)
    upstream: str               #: the module whose version this binary is
    applets: tuple[str, ...] = ()   #: names it also answers to (multi-call)
    version_flags: tuple[str, ...] = ()  #: `-X` settings; {version} is the module's
    tag: str = ""               #: its own version where it has one (agnhost, pause)
    directory: str = "bin"      #: where in the set: CNI plugins get a directory of their own
    cgo: bool = False           #: needs C (linked statically all the same)

    @property
    def module_version(self) -> str:
        return required_version(self.module_dir, self.upstream)

    @property
    def version(self) -> str:
        return self.tag or self.module_version

    def ldflags(self) -> str:
        v = self.module_version
        fields = {"version": v, "major": v.lstrip("v").split(".")[0], "minor": v.split(".")[1],
                  "tag": self.tag}
        static = ["-extldflags=-static"] if self.cgo else []
        return " ".join(["-s", "-w", *static,
                         *(f"-X {f.format(**fields)}" for f in self.version_flags)])


def _k8s_version_flags() -> tuple[str, ...]:
    # what hack/lib/version.sh stamps, for both places a version is read from
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"{pkg}.gitVersion={{version}}", f"{pkg}.gitMajor={{major}}",
                  f"{pkg}.gitMinor={{minor}}", f"{pkg}.gitTreeState=archive"]
    return tuple(flags)


K8S_APPLETS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
               "kube-proxy", "kubeadm", "kubectl", "etcd")
CNI_VERSION_FLAG = ("github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}",)

GO_BUILDS: tuple[GoBuild, ...] = (
    GoBuild("kubernetes", "kubernetes", ".", "k8s.io/kubernetes", K8S_APPLETS, _k8s_version_flags()),
    GoBuild("agnhost", "kubernetes", "k8s.io/kubernetes/test/images/agnhost", "k8s.io/kubernetes",
            version_flags=_k8s_version_flags(), tag=AGNHOST_TAG),
    GoBuild("pause", "kubernetes", "./pause", "k8s.io/kubernetes", version_flags=("main.version={tag}",),
            tag=PAUSE_VERSION),
    GoBuild("coredns-1.8", "coredns-1.8", "github.com/coredns/coredns", "github.com/coredns/coredns"),
    GoBuild("coredns-1.12", "coredns-1.12", "github.com/coredns/coredns", "github.com/coredns/coredns"),
    # the udp backend's proxy is C (flannel's own Makefile builds with cgo, static)
    GoBuild("flanneld", "flannel", "github.com/flannel-io/flannel", "github.com/flannel-io/flannel",
            version_flags=("github.com/flannel-io/flannel/pkg/version.Version={version}",), cgo=True),
    *(GoBuild(plugin.rsplit("/", 1)[1], "cni-plugins",
              f"github.com/containernetworking/plugins/plugins/{plugin}",
              "github.com/containernetworking/plugins", version_flags=CNI_VERSION_FLAG,
              directory="cni")
      for plugin in ("main/bridge", "ipam/host-local", "main/loopback", "meta/portmap")),
    GoBuild("flannel", "cni-flannel", "github.com/containernetworking/plugins/plugins/meta/flannel",
            "github.com/containernetworking/plugins", version_flags=CNI_VERSION_FLAG,
            directory="cni"),
    # seed 001: k3s's datastore shim (etcd's API on PostgreSQL) and its PVC
    # provisioner, each in a go.mod of its own (no cgo: kine's sqlite is not used)
    GoBuild("kine", "kine", "github.com/k3s-io/kine", "github.com/k3s-io/kine",
            version_flags=("github.com/k3s-io/kine/pkg/version.Version={version}",)),
    GoBuild("local-path-provisioner", "local-path-provisioner", "github.com/rancher/local-path-provisioner",
            "github.com/rancher/local-path-provisioner",
            version_flags=("main.VERSION={version}",)),
)

#: the names a binary is found by: each build's own name and each applet
BINARIES: dict[str, GoBuild] = {
    **{b.name: b for b in GO_BUILDS}, **{a: b for b in GO_BUILDS for a in b.applets}}

#: applets that are another module than their multi-call binary
APPLET_MODULES = {"etcd": "go.etcd.io/etcd/server/v3"}


def binary_version(name: str) -> str:
    build = BINARIES[name]
    if name in APPLET_MODULES:
        return required_version(build.module_dir, APPLET_MODULES[name])
    return build.version


class _Named:
    """An image's name (`repository:version`) and its file in the set."""
    repository: str

    @property
    def version(self) -> str:
        raise NotImplementedError

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.version}"

    @property
    def file(self) -> str:
        return self.ref.rsplit("/", 1)[1].replace(":", "-") + ".tar"


@dataclass(frozen=True)
class Image(_Named):
    """A one-binary image, registered under the exact name its users pull."""
    repository: str
    binary: str                 #: a GoBuild name, put in the image at entrypoint[0]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return BINARIES[self.binary].version


IMAGES: tuple[Image, ...] = (
    Image("registry.k8s.io/pause", "pause", ("/pause",)),
    Image("registry.k8s.io/coredns/coredns", "coredns-1.8", ("/coredns",)),
    Image("registry.k8s.io/coredns/coredns", "coredns-1.12", ("/coredns",)),
    Image("registry.k8s.io/e2e-test-images/agnhost", "agnhost", ("/agnhost",), ("pause",)),
    Image("docker.io/rancher/local-path-provisioner", "local-path-provisioner",
          ("/usr/bin/local-path-provisioner",)),
)


def debian_version(package: str) -> str:
    """The upstream version of an installed Debian package (no epoch, no revision)."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout:
        raise LookupError(f"Debian package {package} is not installed (harness/install.sh installs it)")
    return result.stdout.split(":", 1)[-1].rsplit("-", 1)[0]


@dataclass(frozen=True)
class PackageImage(_Named):
    """An image of one static binary a Debian package installs on this
    machine, every applet it lists linked beside it: local-path-provisioner's
    helper pods run `/bin/sh` from busybox (Debian's busybox-static, every
    applet in /bin as in upstream's image)."""
    repository: str
    package: str
    path: str                   #: on this machine and in the image
    list_applets: str           #: the argument that makes it print its applets
    binary: str                 #: the name users find the image by (as Image.binary)

    @property
    def version(self) -> str:
        return debian_version(self.package)

    def applets(self) -> tuple[str, ...]:
        listed = subprocess.run([self.path, self.list_applets], capture_output=True, text=True, check=True)
        return tuple(sorted(set(listed.stdout.split()) - {Path(self.path).name}))


PACKAGE_IMAGES: tuple[PackageImage, ...] = (
    PackageImage("docker.io/library/busybox", "busybox-static", "/bin/busybox", "--list", "busybox"),
)
