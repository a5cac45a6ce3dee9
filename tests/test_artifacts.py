"""The artifact cache: real binaries from our Go modules, images that a real
containerd (Debian's) imports under the names Kubernetes expects.

Uses the real cache ($HARNESS_ARTIFACTS or /var/cache/harness/artifacts):
the session fixture builds it when missing (tens of minutes cold on 2 cores,
seconds warm).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import artifacts, conformance
from harness.conformance.skips import SKIPPED
from harness.artifacts import build as build_mod, importer, spec, store
from harness.cli import main as harness_main
from harness.lab.wait import wait_until

K8S = spec.required_version("kubernetes", "k8s.io/kubernetes")


@pytest.fixture(scope="session")
def built() -> store.ArtifactSet:
    found, _ = build_mod.build()
    return found


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, **kw)


def test_kubectl_reports_the_pinned_version(built):
    result = run(built.binary("kubectl"), "version", "--client", "-o", "json")
    assert result.returncode == 0, result.stderr
    client = json.loads(result.stdout)["clientVersion"]
    assert client["gitVersion"] == K8S == "v1.34.4"
    assert (client["major"], client["minor"]) == ("1", "34")


@pytest.mark.parametrize("applet", ["kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                    "kubelet", "kube-proxy"])
def test_each_component_answers_version_under_its_own_name(built, applet):
    result = run(built.binary(applet), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Kubernetes {K8S}"


def test_kubeadm_and_etcd_answer_under_their_names(built):
    kubeadm = run(built.binary("kubeadm"), "version", "-o", "short")
    assert kubeadm.stdout.strip() == K8S, kubeadm.stderr
    etcd = run(built.binary("etcd"), "--version")
    assert f"etcd Version: {spec.binary_version('etcd').lstrip('v')}" in etcd.stdout, etcd.stderr


def test_etcdctl_is_etcds_own_at_the_servers_version(built):
    assert spec.binary_version("etcdctl") == spec.binary_version("etcd") == "v3.6.4"
    etcdctl = run(built.binary("etcdctl"), "version")
    assert "etcdctl version: 3.6.4" in etcdctl.stdout, etcdctl.stderr
    # etcdctl's prefix matching stays its own: kubectl does not take "ver" for "version"
    assert run(built.binary("etcdctl"), "vers").returncode == 0
    assert run(built.binary("kubectl"), "vers", "--client").returncode != 0


def test_the_multi_call_binary_refuses_an_unknown_name(built, tmp_path):
    alias = tmp_path / "kube-nonsense"
    alias.symlink_to(built.binary("kubernetes"))
    result = run(alias)
    assert result.returncode == 2 and "unknown applet" in result.stderr
    assert "kubelet" in result.stderr


@pytest.mark.parametrize("name,args,expected", [
    ("coredns-1.8", ["-version"], "CoreDNS-1.8.7"),
    ("coredns-1.12", ["-version"], "CoreDNS-1.12.1"),
    ("flanneld", ["--version"], "v0.28.10"),
    ("pause", ["--version"], "pause version 3.10.1"),
    ("agnhost", ["--help"], "serve-hostname"),
    ("kine", ["--version"], "v0.17.5"),
    ("local-path-provisioner", ["--version"], "v0.0.30"),
    ("kube-router", ["--version"], "version v2.1.0,"),
])
def test_other_binaries_answer(built, name, args, expected):
    result = run(built.binary(name), *args)
    assert expected in result.stdout + result.stderr


@pytest.mark.parametrize("plugin", ["bridge", "host-local", "loopback", "portmap", "flannel"])
def test_cni_plugins_report_their_cni_versions(built, plugin):
    path = built.binary(plugin)
    assert path.parent.name == "cni"
    result = run(path, env={"CNI_COMMAND": "VERSION"})
    assert "0.4.0" in json.loads(result.stdout)["supportedVersions"], result.stderr


def test_the_public_lookup_finds_the_built_set(built):
    assert artifacts.binary("kubelet") == built.directory / "bin" / "kubelet"
    assert artifacts.image("registry.k8s.io/pause:3.10.1").is_file()
    with pytest.raises(LookupError, match="no nonsense"):
        artifacts.binary("nonsense")


def test_manifest_checksums_match_the_files(built):
    for a in built.manifest.artifacts:
        assert store.sha256_file(built.directory / a.path) == a.sha256, a.name


def test_second_build_is_a_no_op_without_go(built, monkeypatch, capsys):
    manifest = built.directory / store.MANIFEST
    before = manifest.stat().st_mtime_ns

    def no_go(*args, **kwargs):
        raise AssertionError("go was invoked on a warm cache")
    monkeypatch.setattr(build_mod, "go_build", no_go)
    monkeypatch.setattr(build_mod.subprocess, "run", no_go)
    assert harness_main(["artifacts", "build"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert manifest.stat().st_mtime_ns == before


def test_cache_key_covers_go_sum_and_flags(built, tmp_path, monkeypatch):
    go_dir = tmp_path / "go"
    shutil.copytree(spec.GO_DIR, go_dir)
    monkeypatch.setattr(spec, "GO_DIR", go_dir)
    key = build_mod.build_key("go1.26.8")
    with (go_dir / "coredns-1.12" / "go.sum").open("a") as f:
        f.write("example.com/changed v1.0.0 h1:AAAA=\n")
    assert build_mod.build_key("go1.26.8") != key
    assert build_mod.build_key("go1.27.0") != build_mod.build_key("go1.26.8")
    key = build_mod.build_key("go1.26.8")
    monkeypatch.setattr(build_mod, "GOFLAGS", build_mod.GOFLAGS + " -race")
    assert build_mod.build_key("go1.26.8") != key


def test_a_cut_short_build_leaves_nothing_usable(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with store.publishing("build-x", tmp_path) as tmp:
            (tmp / "bin").mkdir()
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [] and store.sets(tmp_path) == []


def _snapshot(directory: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_mtime_ns) for p in directory.rglob("*"))


def test_import_of_a_bad_directory_is_refused_and_changes_nothing(built, tmp_path, monkeypatch,
                                                                  capsys):
    # a cache of its own: the shared one may be in use by labs meanwhile
    monkeypatch.setenv("HARNESS_ARTIFACTS", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "marker").write_text("before")
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(built.binary("kubelet"), release / "kubelet")
    (release / "README.txt").write_text("not a binary")
    (release / "broken.tar").write_bytes(b"not a tar")
    before = _snapshot(store.root())
    assert harness_main(["artifacts", "import", str(release)]) == 2
    err = capsys.readouterr().err
    assert "README.txt: unknown file" in err and "broken.tar" in err
    assert "missing needed binaries: kube-apiserver" in err
    assert harness_main(["artifacts", "import", str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert _snapshot(store.root()) == before


def test_import_takes_release_binaries_and_image_tarballs(built, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_ARTIFACTS", str(tmp_path / "cache"))
    release = tmp_path / "release"
    release.mkdir()
    for name in (*importer.REQUIRED, "coredns"):  # hard links: release files cost no space
        os.link(built.binary("coredns-1.12" if name == "coredns" else name).resolve(),
                release / name)
    os.link(built.image("registry.k8s.io/pause:3.10.1"), release / "pause.tar")
    try:
        found, new = importer.import_dir(release)
        assert new and found.manifest.source == "import"
        assert found.manifest.versions["kubelet"] == K8S
        assert found.manifest.versions["etcd"] == spec.binary_version("etcd").lstrip("v")
        assert found.manifest.versions["coredns"] == "1.12.1"
        assert found.image("registry.k8s.io/pause:3.10.1").is_file()
        assert importer.import_dir(release)[1] is False
        # no build for this cache's key: the import is what the lookup uses
        assert artifacts.binary("kubelet") == found.directory / "bin" / "kubelet"
    finally:
        shutil.rmtree(tmp_path / "cache")  # ~1 GiB of copies: not left for pytest's retention


# --- a real containerd (Debian's 1.6), started by hand on temporary directories ---

CONTAINERD_CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
"""


@pytest.fixture
def containerd(tmp_path_factory):
    if not shutil.which("containerd") or os.geteuid() != 0:
        pytest.skip("needs root and Debian's containerd (harness/install.sh)")
    d = tmp_path_factory.mktemp("containerd")
    (d / "config.toml").write_text(CONTAINERD_CONFIG.format(d=d))
    log = (d / "containerd.log").open("w")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sock = d / "containerd.sock"
    cgroup = f"harness-artifacts-test-{os.getpid()}"
    # ctr and the shim keep fifos, shim sockets and runc state under here
    run_dirs_before = set(Path("/run/containerd").rglob("*")) | {Path("/run/containerd")} \
        if Path("/run/containerd").exists() else set()

    def ctr(*args, timeout=120):
        return subprocess.run(["ctr", "--address", str(sock), "-n", "k8s.io", *args],
                              capture_output=True, text=True, timeout=timeout)
    try:
        wait_until(lambda: ctr("version").returncode == 0, timeout=30,
                   what=f"containerd answering on {sock}")
        yield ctr, cgroup
    finally:
        for task in ctr("tasks", "ls", "-q").stdout.split():
            ctr("tasks", "kill", "-s", "SIGKILL", task)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(d))]
        for m in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for leftover in sorted(hierarchy.glob(f"{cgroup}/**/"), reverse=True):
                leftover.rmdir()
        shutil.rmtree(d, ignore_errors=True)
        made = [p for p in Path("/run/containerd").rglob("*") if p not in run_dirs_before] \
            + ([Path("/run/containerd")] if not run_dirs_before else [])
        for p in sorted(made, key=lambda p: len(p.parts), reverse=True):
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()  # only empty ones: another containerd may be using its own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_images_import_into_containerd_under_the_expected_names(built, containerd):
    ctr, _ = containerd
    refs = [*(i.ref for i in (*spec.IMAGES, *spec.COMPONENT_IMAGES)), *spec.E2E_REFS]
    archives = dict.fromkeys(built.image(ref) for ref in refs)
    assert len(archives) == len(spec.IMAGES) + 1 + 2, \
        "the e2e images share one archive, the multi-call binary's images another, kube-router its own"
    for archive in archives:
        result = ctr("images", "import", str(archive), timeout=300)
        assert result.returncode == 0, result.stderr
    listed = ctr("images", "ls", "-q").stdout.split()
    assert sorted(listed) == sorted(refs)
    assert "registry.k8s.io/pause:3.10.1" in listed
    assert "registry.k8s.io/coredns/coredns:v1.8.7" in listed
    assert "registry.k8s.io/e2e-test-images/busybox:1.37.0-1" in listed


def test_e2e_image_names_are_the_ones_the_tests_ask_for(built):
    """spec.E2E_IMAGES against test/utils/image/manifest.go of the module e2e.test is built from."""
    module = build_mod.module_dir(build_mod.go_binary(), "kubernetes", "k8s.io/kubernetes")
    manifest = (module / "test/utils/image/manifest.go").read_text()
    asked = {f"{spec.E2E_REGISTRY}/{name}:{tag}" for name, tag in re.findall(
        r'Config\{list\.PromoterE2eRegistry, "([^"]+)", "([^"]+)"\}', manifest)}
    assert set(spec.E2E_REFS) <= asked, set(spec.E2E_REFS) - asked


def test_ginkgo_cli_is_the_version_e2e_test_links(built):
    go = build_mod.go_binary()
    linked = run(go, "list", "-m", "github.com/onsi/ginkgo/v2", cwd=spec.GO_DIR / "kubernetes",
                 env={**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}).stdout.split()
    assert linked[1] == spec.BINARIES["ginkgo"].version
    assert run(built.binary("ginkgo"), "version").stdout.strip().endswith(linked[1].lstrip("v"))


def test_e2e_test_is_listed_as_a_test_binary_and_lists_conformance_tests(built):
    [entry] = [a for a in built.manifest.artifacts if a.name == "e2e.test"]
    assert entry.kind == "test-binary" and entry.version == K8S
    listed = run(built.binary("e2e.test"), "--list-conformance-tests")
    assert listed.returncode == 0, listed.stderr
    names = [t["codename"] for t in yaml.safe_load(listed.stdout)]
    assert len(names) > 400, len(names)
    # the skip list and CI's handful name tests that exist
    assert set(SKIPPED) <= set(names), set(SKIPPED) - set(names)
    assert all(any(n.startswith(ci) for n in names) for ci in conformance.CI_TESTS)


@pytest.fixture
def e2e_images(built, containerd):
    """(start, ) with the e2e images imported: start(ref, name, *command) runs
    a detached container (a network namespace of its own) and returns a
    function that execs in it; every container is deleted afterwards."""
    ctr, cgroup = containerd
    assert ctr("images", "import", str(built.image(spec.E2E_REFS[0])), timeout=300).returncode == 0
    started = []

    def start(ref: str, name: str, *command: str):
        result = ctr("run", "-d", "--cgroup", f"/{cgroup}/{name}", ref, name, *command)
        assert result.returncode == 0, result.stderr
        started.append(name)
        return lambda *argv: ctr("tasks", "exec", "--exec-id", f"probe-{os.urandom(4).hex()}", name, *argv)
    yield start
    for name in started:
        ctr("tasks", "delete", "-f", name)
        ctr("containers", "delete", name)


def test_agnhost_has_the_tools_the_e2e_tests_exec(e2e_images):
    exec_ = e2e_images(spec.E2E_AGNHOST, "agnhost-tools")  # agnhost pause
    for tool in ("sh", "dig", "curl", "nc", "ip"):
        found = exec_("sh", "-c", f"command -v {tool}")
        assert found.returncode == 0 and found.stdout.strip(), f"{tool}: {found.stderr}"
    user = exec_("id", "user-defined-in-image").stdout
    assert "uid=1000(" in user and "50000(group-defined-in-image)" in user, user
    assert exec_("sh", "-c", "test -s /localhost.crt && test -x /agnhost-2 && test -d /uploads").returncode == 0


def test_busybox_has_every_applet_in_bin(e2e_images):
    ref = next(n for n in spec.E2E_REFS if "/busybox:" in n)
    exec_ = e2e_images(ref, "busybox", "sh", "-c", "sleep 600")
    assert exec_("/bin/sysctl", "-n", "kernel.ostype").stdout.strip() == "Linux"
    assert exec_("/bin/wget", "--help").returncode in (0, 1)
    assert exec_("test", "-e", "/usr/bin/dpkg").returncode == 1, "busybox alone, no Debian root"


def test_busybox_sh_passes_on_names_that_are_no_shell_names(e2e_images, containerd):
    """The ConfigMap/Secret environment tests run `sh -c env` in busybox, as
    a pod's command, and read variables such as data-1 from its output."""
    ctr, cgroup = containerd
    ref = next(n for n in spec.E2E_REFS if "/busybox:" in n)
    ran = ctr("run", "--rm", "--cgroup", f"/{cgroup}/env", "--env", "data-1=value-1", ref, "env-names",
              "sh", "-c", "env")
    assert "data-1=value-1" in ran.stdout.splitlines(), (ran.stdout, ran.stderr)


@pytest.mark.parametrize("allow, uid", [(False, 1000), (True, 0)])
def test_nonewprivs_escalates_only_when_new_privileges_are_allowed(e2e_images, containerd, allow, uid):
    """The AllowPrivilegeEscalation tests tell the two apart by nnp's
    effective uid: run as user 1000, the setuid program is root only where
    no_new_privs is off."""
    ctr, cgroup = containerd
    ref = next(n for n in spec.E2E_REFS if "/nonewprivs:" in n)
    ran = ctr("run", "--rm", "--cgroup", f"/{cgroup}/nnp", *(["--allow-new-privs"] if allow else []), ref,
              f"nnp-{uid}", "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "nnp")
    assert ran.stdout.strip() == f"Effective uid: {uid}", (ran.stdout, ran.stderr)


@pytest.mark.parametrize("name, page", [("httpd", "It works!"), ("nginx", "Welcome to nginx!")])
def test_web_server_images_serve_where_upstreams_do(e2e_images, name, page):
    ref = next(n for n in spec.E2E_REFS if f"/{name}:" in n)
    exec_ = e2e_images(ref, name)
    body = wait_until(lambda: exec_("curl", "-sf", "http://127.0.0.1/").stdout, timeout=30,
                      what=f"{name} answering on port 80 in its container")
    assert page in body
    if name == "httpd":  # the statefulset tests break its readiness probe by moving this file
        assert exec_("test", "-f", "/usr/local/apache2/htdocs/index.html").returncode == 0


def test_busybox_image_has_every_applet_in_bin(built):
    """local-path-provisioner's helper pods run /bin/sh: every applet a link
    to /bin/busybox, as in upstream's image."""
    import tarfile
    [image] = spec.PACKAGE_IMAGES
    with tarfile.open(built.image(image.ref)) as outer:
        index = json.load(outer.extractfile("index.json"))
        manifest = json.load(outer.extractfile(
            "blobs/sha256/" + index["manifests"][0]["digest"].split(":", 1)[1]))
        layer = outer.extractfile("blobs/sha256/" + manifest["layers"][0]["digest"].split(":", 1)[1])
        with tarfile.open(fileobj=layer) as tar:
            members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile()
    for applet in ("sh", "mkdir", "rm", "cat", "sysctl"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"


KUBEADM_IMAGES = {
    "kube-apiserver": "registry.k8s.io/kube-apiserver:v1.34.4",
    "kube-controller-manager": "registry.k8s.io/kube-controller-manager:v1.34.4",
    "kube-scheduler": "registry.k8s.io/kube-scheduler:v1.34.4",
    "kube-proxy": "registry.k8s.io/kube-proxy:v1.34.4",
    "etcd": "registry.k8s.io/etcd:3.6.4-0",
    "kube-router": "docker.io/cloudnativelabs/kube-router:v2.1.0",
}


def test_kubeadm_images_have_the_names_kubeadm_pulls(built):
    assert {k: spec.IMAGE_REFS[k] for k in KUBEADM_IMAGES} == KUBEADM_IMAGES
    # the five images of the multi-call binary are one archive holding its layer once
    [multi] = {built.image(KUBEADM_IMAGES[k]) for k in KUBEADM_IMAGES if k != "kube-router"}
    assert multi.stat().st_size < 1.2 * built.binary("kubernetes").stat().st_size
    assert built.image(KUBEADM_IMAGES["kube-router"]) != multi


def _rootfs(archive: Path, ref: str, dest: Path) -> dict:
    """Unpack the image `ref` of an OCI archive into `dest` as a runtime
    would (layers in order); returns its config."""
    with tarfile.open(archive) as outer:
        def blob(digest: str):
            return outer.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
        [entry] = [m for m in json.load(outer.extractfile("index.json"))["manifests"]
                   if m["annotations"]["io.containerd.image.name"] == ref]
        manifest = json.load(blob(entry["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(layer["digest"])) as tar:
                tar.extractall(dest)
        return json.load(blob(manifest["config"]["digest"]))["config"]


@pytest.fixture
def chroot(built, tmp_path):
    """chroot(key, *argv): runs argv in the unpacked image of KUBEADM_IMAGES[key],
    in a network namespace of its own."""
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot, unshare)")

    def in_image(key: str, *argv: str) -> subprocess.CompletedProcess:
        root = tmp_path / key
        if not root.exists():
            _rootfs(built.image(KUBEADM_IMAGES[key]), KUBEADM_IMAGES[key], root)
        return run("unshare", "--net", "chroot", root, *argv)
    return in_image


@pytest.mark.parametrize("key, argv, expected", [
    ("kube-apiserver", ["kube-apiserver", "--version"], "Kubernetes v1.34.4"),
    ("kube-scheduler", ["kube-scheduler", "--version"], "Kubernetes v1.34.4"),
    ("etcd", ["etcd", "--version"], "etcd Version: 3.6.4"),
    ("etcd", ["etcdctl", "version"], "etcdctl version: 3.6.4"),
    ("kube-proxy", ["kube-proxy", "--version"], "Kubernetes v1.34.4"),
    ("kube-proxy", ["iptables-save", "--version"], "(nf_tables)"),
    ("kube-proxy", ["ip6tables-restore", "--version"], "(nf_tables)"),
    ("kube-proxy", ["ip", "-V"], "iproute2"),
    ("kube-router", ["kube-router", "--version"], "version v2.1.0,"),
    ("kube-router", ["ipset", "version"], "ipset v"),
    ("kube-router", ["ip6tables-save", "--version"], "(nf_tables)"),
    ("kube-router", ["ip", "-V"], "iproute2"),
])
def test_kubeadm_images_run_their_programs_from_path(chroot, key, argv, expected):
    """What kubeadm's static pods, kube-proxy and kube-router run, found on
    PATH in the image alone (no shell, nothing of the machine)."""
    result = chroot(key, *argv)
    assert result.returncode == 0 and expected in result.stdout + result.stderr, (result.stdout, result.stderr)


def test_iptables_and_ipset_in_the_images_load_their_modules(chroot):
    """kube-proxy's NAT rules need xtables' modules (dlopened, no ldd shows
    them), kube-router's sets the kernel's ipset: each works from its image
    (in a network namespace of its own, gone with the command)."""
    for key in ("kube-proxy", "kube-router"):
        added = chroot(key, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16",
                       "-m", "comment", "--comment", "harness", "-j", "MASQUERADE")
        assert added.returncode == 0, (key, added.stderr)
    made = chroot("kube-router", "ipset", "create", "harness-test", "hash:ip")
    assert made.returncode == 0, made.stderr
    assert chroot("kube-proxy", "sh", "-c", "true").returncode != 0, "no shell: only what is run"


def test_agnhost_serves_from_a_container(built, containerd):
    ctr, cgroup = containerd
    ref = spec.IMAGE_REFS["agnhost"]
    assert ctr("images", "import", str(built.image(ref))).returncode == 0
    port = free_port()
    runs = {}
    thread = threading.Thread(target=lambda: runs.setdefault("result", ctr(
        "run", "--rm", "--net-host", "--cgroup", f"/{cgroup}/agnhost", ref, "agnhost",
        "/agnhost", "netexec", f"--http-port={port}", timeout=300)))
    thread.start()

    def get(path):
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read().decode()
    try:
        answer = wait_until(lambda: get("/hostname"), timeout=60,
                            what=f"agnhost netexec on 127.0.0.1:{port}")
        assert answer.strip() == socket.gethostname()
        assert get("/echo?msg=harness") == "harness"
    finally:
        ctr("tasks", "kill", "-s", "SIGKILL", "agnhost")
        thread.join(timeout=60)
    assert not thread.is_alive() and ctr("containers", "ls", "-q").stdout.split() == []
