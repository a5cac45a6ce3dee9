"""The images the upstream e2e tests run, built here without a registry.

The tests exec `sh`, `dig`, `curl` and `nc` in agnhost pods, run httpd and
nginx as web servers and busybox for everything small, under the names
test/utils/image/manifest.go gives (spec.E2E_IMAGES). They are built as the
upstream images are, on a Debian root instead of Alpine:

- one Debian root (debootstrap, spec.E2E_PACKAGES) is the bottom layer of
  every image but busybox, stored once in the archive; it has the uid 1000
  user and gid 50000 group the agnhost image defines, Apache serving
  /usr/local/apache2/htdocs and nginx serving /usr/share/nginx/html on port 80
  (files under e2e/);
- agnhost adds our agnhost binary at /agnhost (and /agnhost-2), localhost.crt
  and localhost.key from the k8s.io/kubernetes module, /uploads;
- kitten and nautilus add their pages (from the module) to agnhost's layers;
- nonewprivs adds nnp (test/images/nonewprivs, built from our module) setuid
  root at /usr/local/bin/nnp, as its Dockerfile does;
- busybox is Debian's busybox-static, every applet linked in /bin, but with
  Debian's bash-static as /bin/sh: Debian's busybox ash (1.35, and 1.37 in
  trixie alike) drops environment variables whose names are no shell names
  (`data-1=value-1`), which upstream's busybox image passes on to `env`, and
  the conformance tests that read a ConfigMap or Secret through `sh -c env`
  depend on that. bash passes them on.

debootstrap reads the Debian mirror apt uses at build time; nothing is
fetched when a lab runs.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.artifacts import images, spec
from harness.lab import debian
from harness.lab.progress import Steps

FILES = Path(__file__).parent / "e2e"
#: what the root gets on top of its packages (path in the root -> file under e2e/, mode)
ROOT_FILES = {
    "usr/local/bin/httpd-foreground": ("httpd-foreground", 0o755),
    "etc/apache2/sites-enabled/000-default.conf": ("apache-site.conf", 0o644),
    "usr/local/apache2/htdocs/index.html": ("index.html", 0o644),
    "etc/nginx/sites-enabled/default": ("nginx-site.conf", 0o644),
}
#: the agnhost image's user and group (its Dockerfile's adduser/addgroup)
ROOT_COMMANDS = (
    ("groupadd", "-g", "50000", "group-defined-in-image"),
    ("useradd", "-u", "1000", "-U", "-M", "-G", "group-defined-in-image", "user-defined-in-image"),
)
#: files of the k8s.io/kubernetes module the layers take, by layer
MODULE_FILES = {
    "agnhost": {"localhost.crt": "test/images/agnhost/porter/localhost.crt",
                "localhost.key": "test/images/agnhost/porter/localhost.key"},
    "kitten": {"kitten.jpg": "test/images/kitten/html/kitten.jpg",
               "data.json": "test/images/kitten/html/data.json"},
    "nautilus": {"nautilus.jpg": "test/images/nautilus/html/nautilus.jpg",
                 "data.json": "test/images/nautilus/html/data.json"},
}
#: directories whose content stays out of the root's layer
UNPACKED = ("dev", "proc", "sys", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
#: the busybox image's /etc (upstream busybox has root and nobody)
BUSYBOX_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
BUSYBOX_GROUP = b"root:x:0:\nnobody:x:65534:\n"


class E2eImageError(RuntimeError):
    pass


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        raise E2eImageError(f"{what}: `{shlex.join(argv)}` failed (rc={result.returncode}): "
                            f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def recipe() -> dict:
    """Everything the images are made from, for the artifact cache's key."""
    return {"packages": spec.E2E_PACKAGES, "suite": debian.SUITE, "commands": ROOT_COMMANDS,
            "files": {path: ((FILES / name).read_text(), mode) for path, (name, mode) in ROOT_FILES.items()},
            "module_files": MODULE_FILES,
            "images": [(i.names, i.entrypoint, i.cmd, i.layer, i.debian) for i in spec.E2E_IMAGES]}


def _configure_root(root: Path) -> None:
    for path, (name, mode) in ROOT_FILES.items():
        dest = root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink():
            dest.unlink()  # Debian's sites-enabled entries are links to sites-available
        shutil.copyfile(FILES / name, dest)
        dest.chmod(mode)
    for command in ROOT_COMMANDS:
        _run(["chroot", str(root), *command], "the e2e root")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (root / cache).glob("*"):
            if f.is_file():
                f.unlink()


def _pack(root: Path, out: Path) -> None:
    """The root as one layer: numeric owners, sorted, fixed times; /dev, /proc
    and /sys empty (the runtime mounts them); no documentation."""
    _run(["tar", "--numeric-owner", "--xattrs", "--sort=name", "--mtime=@0",
          *(f"--exclude=./{d}/*" for d in UNPACKED),
          "-C", str(root), "-cf", str(out), "."], "packing the e2e root")


def _busybox_layer(busybox: Path, sh: Path) -> bytes:
    applets = _run([str(busybox), "--list"], "listing busybox's applets").split()
    links = {f"bin/{a}": "busybox" for a in applets if a not in ("busybox", "sh")}
    return images.files_layer({"bin/busybox": busybox, "bin/sh": sh, "etc/passwd": BUSYBOX_PASSWD,
                               "etc/group": BUSYBOX_GROUP, "root": None}, links)


@dataclass(frozen=True)
class Root:
    """The Debian root packed as one layer, and the two static binaries the
    busybox image takes from it."""
    layer: Path
    busybox: Path
    sh: Path


def make_root(work: Path, steps: Steps) -> Root:
    """debootstrap the root, configure it and pack it into `work` (it needs no
    Go build: the artifact build runs it beside them)."""
    mirror = debian.apt_mirror()
    root = work / "e2e-root"
    try:
        with steps.step(f"e2e images: debootstrap Debian {debian.SUITE} + "
                        f"{len(spec.E2E_PACKAGES)} packages from {mirror}"):
            try:
                debian.debootstrap(root, spec.E2E_PACKAGES, mirror)
            except debian.DebootstrapError as exc:
                raise E2eImageError(str(exc)) from None
        with steps.step("e2e images: user 1000, group 50000, httpd and nginx sites; packed as a layer"):
            _configure_root(root)
            made = Root(work / "e2e-root.tar", work / "busybox", work / "bash-static")
            _pack(root, made.layer)
            shutil.copy2(root / "bin/busybox", made.busybox)
            shutil.copy2(root / "bin/bash-static", made.sh)
        return made
    finally:
        shutil.rmtree(root, ignore_errors=True)


def build(out: Path, root: Root, agnhost: Path, nnp: Path, module_dir: Path, steps: Steps) -> list[str]:
    """Write every e2e image into the archive `out`, on `root` (its files are
    removed afterwards); returns the names registered."""
    setuid_nnp = root.layer.parent / "nnp"
    try:
        shutil.copy(nnp, setuid_nnp)
        setuid_nnp.chmod(0o4755)
        missing = [f"{module_dir}/{rel}" for files in MODULE_FILES.values() for rel in files.values()
                   if not (module_dir / rel).is_file()]
        if missing:
            raise E2eImageError(f"the k8s.io/kubernetes module lacks {', '.join(missing)}")
        layers = {name: images.files_layer({path: module_dir / rel for path, rel in files.items()})
                  for name, files in MODULE_FILES.items() if name != "agnhost"}
        layers["agnhost"] = images.files_layer(
            {"agnhost": agnhost, "uploads": None,
             **{path: module_dir / rel for path, rel in MODULE_FILES["agnhost"].items()}},
            {"agnhost-2": "agnhost"})
        layers["busybox"] = _busybox_layer(root.busybox, root.sh)
        layers["nonewprivs"] = images.files_layer({"usr/local/bin/nnp": setuid_nnp})
        with steps.step(f"e2e images: {len(spec.E2E_REFS)} names into {out.name}"):
            specs = []
            for image in spec.E2E_IMAGES:
                stack = [root.layer] if image.debian else []
                if image.layer in ("kitten", "nautilus"):
                    stack.append(layers["agnhost"])  # their Dockerfiles start FROM agnhost
                if image.layer:
                    stack.append(layers[image.layer])
                specs.append(images.ImageSpec(image.names, tuple(stack), image.entrypoint, image.cmd,
                                              f"harness: e2e image {image.key}"))
            return sorted(images.write_archive(out, specs))
    finally:
        for scratch in (root.layer, root.busybox, root.sh, setuid_nnp):
            scratch.unlink(missing_ok=True)
