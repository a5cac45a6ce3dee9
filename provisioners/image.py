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
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.lab import debian
from harness.lab.progress import Steps

SUITE = "bookworm"
REPOSITORY = "harness-host"
CACHE_DIR = Path(os.environ.get("HARNESS_IMAGE_CACHE", "/var/cache/harness/images"))

#: what a lab host needs for the Host API and the setups' components
PACKAGES = debian.image_packages()  # harness/debian-packages.txt, `image` and `both`

#: runs as the container's (or VM's) init at every boot: names the lab links
#: after their networks, gives them the topology's addresses, writes
#: /etc/hosts and /etc/hostname, then hands over to supervisord. /etc/harness/links has one
#: line per link: "<engine's IPv4 address or MAC> <network> <address/prefix>...".
#: In a VM it is PID 1 (init=), so it first mounts what an init mounts.
BOOT_SCRIPT = r"""#!/bin/sh
set -e
if [ $$ = 1 ]; then
  set +e  # an initramfs may have mounted some of these already
  mountpoint -q /proc || mount -t proc proc /proc
  mountpoint -q /sys || mount -t sysfs sysfs /sys
  mountpoint -q /dev || mount -t devtmpfs dev /dev
  mkdir -p /dev/pts; mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
  mount -o remount,rw /
  mountpoint -q /run || mount -t tmpfs tmpfs /run
  mount -t tmpfs tmpfs /tmp
  mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
  modprobe -a virtio_console virtio_net 2>/dev/null || true
  # the VM's own settings come on a small second disk (the libvirt config drive)
  if [ -b /dev/vdb ]; then mkdir -p /etc/harness; mount -o ro /dev/vdb /etc/harness; fi
  set -e
fi
# an unprivileged container's cgroup hierarchies come read-only; in its own
# cgroup namespace they show only its subtree, which its kubelet manages
awk '$3 ~ /^cgroup2?$/ && $4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/mounts |
  while read -r m; do mount -o remount,bind,rw "$m"; done
echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6 || true
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad || true
ip link set lo up
if [ -f /etc/harness/links ]; then
  while read -r engine_addr name addrs; do
    case $engine_addr in
      *:*) dev=$(ip -o link | awk -v m="$engine_addr" 'index($0, "link/ether " m " ") {sub(":", "", $2); print $2}') ;;
      *) dev=$(ip -o -4 addr show | awk -v a="$engine_addr" 'index($4, a "/") == 1 {print $2}') ;;
    esac
    [ -n "$dev" ] || { echo "harness-boot: no link has $engine_addr" >&2; exit 1; }
    ip link set "$dev" down
    [ "$dev" = "$name" ] || ip link set "$dev" name "$name"
    echo 0 > "/proc/sys/net/ipv6/conf/$name/disable_ipv6" || true
    echo 0 > "/proc/sys/net/ipv6/conf/$name/accept_dad" || true
    ip addr flush dev "$name"
    for a in $addrs; do ip addr add "$a" dev "$name" nodad 2>/dev/null || ip addr add "$a" dev "$name"; done
    ip link set "$name" up
  done < /etc/harness/links
fi
[ -f /etc/harness/hosts ] && cat /etc/harness/hosts > /etc/hosts
if [ -f /etc/harness/hostname ]; then
  hostname "$(cat /etc/harness/hostname)"
  cat /etc/harness/hostname > /etc/hostname
fi
rm -f /run/supervisor.sock
exec supervisord -n -c /etc/supervisor/harness.conf
"""
BOOT_PATH = "/usr/local/sbin/harness-boot"


class ImageError(RuntimeError):
    pass


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line format)."""
    files = sorted(sources.glob("sources.list.d/*.sources")) + [sources / "sources.list"] \
        + sorted(sources.glob("sources.list.d/*.list"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M):
                found = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if found and "security" not in found.group(1):
                    return found.group(1)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1]
    raise ImageError(f"no apt source for Debian {SUITE} in {sources}; give --mirror")


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
            run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
                 SUITE, str(root), mirror], "debootstrap")
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
