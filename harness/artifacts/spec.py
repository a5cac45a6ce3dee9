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
    test: bool = False          #: `go test -c`: a test binary (e2e.test) of the package's tests

    @property
    def kind(self) -> str:
        return "test-binary" if self.test else "binary"

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
               "kube-proxy", "kubeadm", "kubectl", "etcd", "etcdctl")
CNI_VERSION_FLAG = ("github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}",)

GO_BUILDS: tuple[GoBuild, ...] = (
    GoBuild("kubernetes", "kubernetes", ".", "k8s.io/kubernetes", K8S_APPLETS, _k8s_version_flags()),
    GoBuild("agnhost", "kubernetes", "k8s.io/kubernetes/test/images/agnhost", "k8s.io/kubernetes",
            version_flags=_k8s_version_flags(), tag=AGNHOST_TAG),
    # the nonewprivs e2e image's setuid program (prints its effective uid)
    GoBuild("nnp", "kubernetes", "k8s.io/kubernetes/test/images/nonewprivs", "k8s.io/kubernetes",
            tag="1.3"),
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
    # the upstream conformance tests (`harness conformance`): ~9 min and 2.2 GiB on 2 cores
    GoBuild("e2e.test", "kubernetes", "k8s.io/kubernetes/test/e2e", "k8s.io/kubernetes",
            version_flags=_k8s_version_flags(), test=True),
    # the ginkgo CLI runs e2e.test in parallel processes (`harness conformance --parallel`);
    # a module of its own (the CLI's tools are no dependency of Kubernetes), at the
    # version e2e.test links (the processes talk ginkgo's own protocol)
    GoBuild("ginkgo", "ginkgo", "github.com/onsi/ginkgo/v2/ginkgo", "github.com/onsi/ginkgo/v2"),
    # seed 004's pod network (BGP, GoBGP inside); its Makefile stamps the
    # version the same way (and a build date, left out: the same build is the same binary)
    GoBuild("kube-router", "kube-router", "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
            "github.com/cloudnativelabs/kube-router/v2",
            version_flags=("github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={version}",)),
)

#: the names a binary is found by: each build's own name and each applet
BINARIES: dict[str, GoBuild] = {
    **{b.name: b for b in GO_BUILDS}, **{a: b for b in GO_BUILDS for a in b.applets}}

#: applets that are another module than their multi-call binary
APPLET_MODULES = {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"}


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
    Image("docker.io/rancher/local-path-provisioner", "local-path-provisioner",
          ("/usr/bin/local-path-provisioner",)),
    # the suites' workloads (`agnhost serve-hostname`) on a lab: the binary alone,
    # 54 MB for every node to import, where the upstream e2e agnhost shares the
    # 264 MB archive of the e2e images (imported for upstream conformance only)
    Image("localhost/harness/agnhost", "agnhost", ("/agnhost",), ("pause",)),
)


#: what kube-proxy (iptables mode) and kube-router exec: Debian's iptables
#: (the nft variants the machine's alternatives name), its modules and iproute2's ip
IPTABLES_TOOLS = (*(f"/usr/sbin/{family}{verb}" for family in ("iptables", "ip6tables")
                    for verb in ("", "-save", "-restore")),
                  "/usr/lib/x86_64-linux-gnu/xtables", "/usr/bin/ip")


@dataclass(frozen=True)
class ComponentImage(_Named):
    """An image a kubeadm cluster pulls: a binary at /usr/local/bin (every
    applet of the multi-call binary linked beside it: kubeadm's static pods
    run `kube-apiserver`, `etcd` from PATH, and seed 004 execs `etcdctl` in
    the etcd pod), run as `binary`, with `tools` of this machine and their
    libraries in a layer of their own (host_tools). The images of one build
    are one archive, so its binary's layer is stored once."""
    repository: str
    binary: str                 #: a name in BINARIES: an applet or a build of its own
    tag: str = "{version}"      #: the image's tag; {bare} is the version without its "v"
    tools: tuple[str, ...] = ()

    @property
    def build(self) -> GoBuild:
        return BINARIES[self.binary]

    @property
    def version(self) -> str:
        v = binary_version(self.binary)
        return self.tag.format(version=v, bare=v.lstrip("v"))

    @property
    def entrypoint(self) -> tuple[str, ...]:
        return (f"/usr/local/bin/{self.binary}",)

    @property
    def file(self) -> str:
        return f"{self.build.name}-images.tar"


COMPONENT_IMAGES: tuple[ComponentImage, ...] = (
    *(ComponentImage(f"registry.k8s.io/{c}", c)
      for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
    ComponentImage("registry.k8s.io/kube-proxy", "kube-proxy", tools=IPTABLES_TOOLS),
    # kubeadm 1.34's etcd image tag: etcd's version and a build number
    ComponentImage("registry.k8s.io/etcd", "etcd", "{bare}-0"),
    ComponentImage("docker.io/cloudnativelabs/kube-router", "kube-router",
                   tools=(*IPTABLES_TOOLS, "/usr/sbin/ipset")),
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

#: the registry test/utils/image/manifest.go names for the e2e test images
E2E_REGISTRY = "registry.k8s.io/e2e-test-images"
#: the Debian root under every e2e image but busybox: the tools the e2e tests
#: exec in agnhost pods (sh, dig, curl, nc, ip), and the servers of httpd and nginx
E2E_PACKAGES = ("bash", "curl", "bind9-dnsutils", "netcat-openbsd", "iproute2", "iputils-ping",
                "procps", "apache2", "nginx", "busybox-static", "bash-static")
#: the one archive holding every e2e image (they share the Debian root's layer)
E2E_ARCHIVE = "e2e-images.tar"


@dataclass(frozen=True)
class E2eImage:
    """An image the upstream e2e tests run, under the names manifest.go gives
    it (Kubernetes 1.34): the Debian root with `layer` on top, or `layer`
    alone (busybox)."""
    names: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    #: its own layer: "agnhost" (the binary, localhost.crt/.key, /uploads),
    #: "busybox" (every applet in /bin), "kitten"/"nautilus" (their pages),
    #: "nonewprivs" (nnp, setuid root), "" none
    layer: str = ""
    debian: bool = True

    @property
    def key(self) -> str:
        """Its name without registry and tag: agnhost, busybox, httpd ..."""
        return self.names[0].rsplit("/", 1)[1].split(":")[0]


def _e2e(name: str, *tags: str) -> tuple[str, ...]:
    return tuple(f"{E2E_REGISTRY}/{name}:{tag}" for tag in tags)


E2E_IMAGES: tuple[E2eImage, ...] = (
    E2eImage(_e2e("agnhost", AGNHOST_TAG), ("/agnhost",), ("pause",), "agnhost"),
    E2eImage(_e2e("busybox", "1.37.0-1"), (), ("sh",), "busybox", debian=False),
    # Httpd and HttpdNew, Nginx and NginxNew: tests roll a workload from one to the other
    E2eImage(_e2e("httpd", "2.4.38-4", "2.4.39-4"), (), ("httpd-foreground",)),
    E2eImage(_e2e("nginx", "1.14-4", "1.15-4"), (), ("nginx", "-g", "daemon off;")),
    E2eImage(_e2e("jessie-dnsutils", "1.7"), (), ("/bin/sh",)),
    # setuid root at /usr/local/bin/nnp: allowPrivilegeEscalation=false must keep uid 1000
    E2eImage(_e2e("nonewprivs", "1.3"), (), ("nnp",), "nonewprivs"),
    E2eImage(_e2e("kitten", "1.7"), ("/agnhost",), ("test-webserver",), "kitten"),
    E2eImage(_e2e("nautilus", "1.7"), ("/agnhost",), ("test-webserver",), "nautilus"),
)
E2E_REFS: tuple[str, ...] = tuple(n for i in E2E_IMAGES for n in i.names)

#: image refs by short name (pause, coredns-*, local-path-provisioner, busybox,
#: kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd,
#: kube-router, agnhost: the lab's one-binary image): what the parts import
IMAGE_REFS: dict[str, str] = {i.binary: i.ref for i in (*IMAGES, *PACKAGE_IMAGES, *COMPONENT_IMAGES)}
#: the upstream agnhost (the Debian root and its tools beneath): what a
#: cluster of a customer's pulls, and what the e2e tests run
E2E_AGNHOST = _e2e("agnhost", AGNHOST_TAG)[0]
