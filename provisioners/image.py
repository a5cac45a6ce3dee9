"""The host image: a Debian 12 root made by debootstrap, without any registry.

One root filesystem serves both engines: `docker import` turns its tarball
into the docker image, and the libvirt provisioner makes a qcow2 disk of it.
The tag carries a hash of everything the root is made from (suite, mirror,
package list, boot script), so a changed package list makes a new image and
an unchanged one is reused: `harness image build` is a no-op the second time.

The mirror is the one apt on this machine uses (air-gapped CI has a local
mirror and no registry).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.lab import debian
from harness.lab.debian import SUITE, apt_mirror  # noqa: F401 - the CLI and libvirt take them from here
from harness.lab.progress import Steps

REPOSITORY = "harness-host"
CACHE_DIR = Path(os.environ.get("HARNESS_IMAGE_CACHE", "/var/cache/harness/images"))

#: what a lab host needs for the Host API and the setups' components
PACKAGES = debian.image_packages()  # harness/debian-packages.txt, `image` and `both`

#: runs as the container's (or VM's) init at every boot: names the lab links
#: after their networks, gives them the topology's addresses, writes
#: /etc/hosts and /etc/hostname, then hands over to supervisord. /etc/harness/links has one
#: line per link: "<engine's IPv4 address or MAC> <network> <address/prefix>...".
#: In a VM it is PID 1 (init=), so it first mounts what an init mounts.
BOOT_SCRIPT = (Path(__file__).parent / "harness-boot.sh").read_text()
BOOT_PATH = "/usr/local/sbin/harness-boot"


class ImageError(RuntimeError):
    pass


def image_tag(packages: tuple[str, ...] = PACKAGES, mirror: str | None = None) -> str:
    """The image's name: a hash of everything the root is made from."""
    digest = hashlib.sha256("\n".join(
        [SUITE, mirror or "", BOOT_SCRIPT, *sorted(packages)]).encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def rootfs_tarball(tag: str) -> Path:
    return CACHE_DIR / f"{tag.replace(':', '-')}.tar"


def build_rootfs(tag: str, mirror: str, packages: tuple[str, ...], steps: Steps) -> Path:
    """debootstrap the root (once per tag) and pack it as a tarball in the cache."""
    tarball = rootfs_tarball(tag)
    if tarball.exists():
        return tarball
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="root-", dir=CACHE_DIR))
    try:
        with steps.step(f"debootstrap Debian {SUITE} + {len(packages)} packages from {mirror}"):
            try:
                debian.debootstrap(root, packages, mirror)
            except debian.DebootstrapError as exc:
                raise ImageError(str(exc)) from None
        with steps.step("harness boot script, supervisord config, apt cache cleaned"):
            from harness.lab.supervisor import CONFIG_PATH, MAIN_CONFIG
            (root / BOOT_PATH.lstrip("/")).write_text(BOOT_SCRIPT)
            (root / BOOT_PATH.lstrip("/")).chmod(0o755)
            (root / CONFIG_PATH.lstrip("/")).write_text(MAIN_CONFIG)
            (root / "etc/supervisor/conf.d").mkdir(parents=True, exist_ok=True)
            for stale in (root / "etc/supervisor/conf.d").glob("*"):
                stale.unlink()  # Debian's own supervisord.conf entries are not ours
            for cached in (root / "var/cache/apt/archives").glob("*.deb"):
                cached.unlink()
        with steps.step(f"pack the root as {tarball.name}"):
            partial = tarball.with_suffix(".partial")
            run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."],
                "tar")
            partial.replace(tarball)
        for old in CACHE_DIR.glob(f"{REPOSITORY}-*.tar"):
            if old != tarball:
                old.unlink()  # a changed package list made it stale
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tarball


def run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise ImageError(f"{what} failed (rc={result.returncode}):\n{result.stdout[-3000:]}")


def build_docker_image(client, packages: tuple[str, ...] = PACKAGES, mirror: str | None = None,
                       steps: Steps | None = None, force: bool = False) -> str:
    """The docker image's tag, importing (and building the root) only when missing."""
    steps = steps or Steps()
    mirror = mirror or apt_mirror()
    tag = image_tag(packages, mirror)
    if not force and client.images.list(name=tag):
        steps.report(f"image {tag} is up to date", 0.0)
        return tag
    tarball = build_rootfs(tag, mirror, packages, steps)
    with steps.step(f"docker import {tarball.name} as {tag}"):
        with tarball.open("rb") as data:
            # the whole name as `repo`: podman's compat import ignores `tag`
            # (and names the image :latest); dockerd takes either form
            resp = client.api.import_image_from_data(
                data, repository=tag,
                changes=[f"CMD [\"{BOOT_PATH}\"]", "LABEL harness.image=host"])
        if not client.images.list(name=tag):
            raise ImageError(f"docker import did not make {tag}: {resp}")
    return tag
