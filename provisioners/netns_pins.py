"""Namespace pins: the bind mounts that keep a lab's namespaces alive.

A namespace is pinned by bind-mounting its nsfs file on an empty file, as
iproute2 does under /run/netns. Two tools sharing /run/netns must agree on
one convention, or one hides the other's pins: iproute2 (and podman, CNI)
make /run/netns a shared bind mount of itself before the first pin. If the
harness pinned namespaces on the plain directory first, that later bind
mount shadows them: `umount PATH` then says "not mounted" and `unlink` gets
EBUSY, while the shadowed mount keeps the namespace (and its lab) alive.

So the harness follows iproute2's convention itself (`ensure_shared_dir`),
and release finds pins wherever they are in the mount table: a pin under a
shadowing bind mount of the same directory is reached through a file handle
of the directory opened on the mount that holds the pin, which path lookup
(always crossing to the topmost mount) cannot reach.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from provisioners.mounts import Mount, mounts

NETNS_DIR = Path("/run/netns")
#: machine-wide, like /run/netns itself (not under a lab run dir a test may move)
LOCK_FILE = Path("/run/harness-netns.lock")

_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_MNT_DETACH = 2
_HANDLE_BYTES = 128


class _FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * _HANDLE_BYTES)]


def pins_under(prefixes: list[str]) -> list[Mount]:
    """Every mount whose mount point starts with one of the prefixes,
    visible or shadowed."""
    return [m for m in mounts() if any(m.mountpoint.startswith(p) for p in prefixes)]


def is_mount_point(path: Path) -> bool:
    """Whether the mount path lookup reaches at `path` is mounted there. The
    mount table alone cannot say: it also lists mounts hidden under others."""
    fd = os.open(path, os.O_PATH)
    try:
        mount_id = _fd_mount_id(fd)
    finally:
        os.close(fd)
    return any(m.id == mount_id and m.mountpoint == str(path) for m in mounts())


@contextmanager
def _machine_lock():
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_shared_dir() -> None:
    """Make /run/netns a shared mount point before the first pin, as `ip netns
    add` does, so that a later `ip netns` (or podman) finds it one and does not
    bind-mount over the pins. Serialised: two labs starting at once must not
    stack two bind mounts."""
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    with _machine_lock():
        if not is_mount_point(NETNS_DIR):
            subprocess.run(["mount", "--bind", str(NETNS_DIR), str(NETNS_DIR)], check=True)
        subprocess.run(["mount", "--make-shared", str(NETNS_DIR)], check=True)


def _fd_mount_id(fd: int) -> int | None:
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("mnt_id:"):
            return int(line.split()[1])
    return None


def _release_shadowed(pin: Mount, by_id: dict[int, Mount]) -> bool:
    """Unmount a pin that path lookup cannot reach. True if it went."""
    parent = by_id.get(pin.parent)
    if parent is None:
        return False
    directory, name = os.path.split(pin.mountpoint)
    handle, handle_mount = _FileHandle(handle_bytes=_HANDLE_BYTES), ctypes.c_int()
    if _libc.name_to_handle_at(_AT_FDCWD, directory.encode(), ctypes.byref(handle),
                               ctypes.byref(handle_mount), 0) != 0:
        return False
    shadow = by_id.get(handle_mount.value)
    if shadow is None or shadow.device != parent.device:
        return False     # shadowed by another filesystem: the handle means nothing on the parent
    try:
        parent_fd = os.open(parent.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        if _fd_mount_id(parent_fd) != parent.id:
            return False     # the parent is shadowed too
        dir_fd = _libc.open_by_handle_at(parent_fd, ctypes.byref(handle),
                                         os.O_PATH | os.O_DIRECTORY)
        if dir_fd < 0:
            return False
        try:
            return _libc.umount2(f"/proc/self/fd/{dir_fd}/{name}".encode(), _MNT_DETACH) == 0
        finally:
            os.close(dir_fd)
    finally:
        os.close(parent_fd)


def release(prefixes: list[str]) -> list[Mount]:
    """Unmount every pin under the prefixes, visible ones by path, shadowed
    ones through a file handle. Returns the pins that could not be released."""
    while True:
        left = pins_under(prefixes)
        if not left:
            return []
        by_id = {m.id: m for m in mounts()}
        progress = False
        for pin in sorted(left, key=lambda m: -m.id):
            if _libc.umount2(pin.mountpoint.encode(), _MNT_DETACH) == 0:
                progress = True
                break            # the mount table changed: read it again
            if _release_shadowed(pin, by_id):
                progress = True
                break
        if not progress:
            return left


def shadowing(pin: Mount) -> list[Mount]:
    """The mounts that hide a pin: mounted on its directory, on the mount
    that holds the pin."""
    directory = os.path.dirname(pin.mountpoint)
    return [m for m in mounts() if m.mountpoint == directory and m.parent == pin.parent]
