"""Each netns lab host gets a cgroup subtree of its own on every hierarchy.

A kubelet (and containerd under it) treats the cgroup root it sees as its
own: it makes `kubepods` there and moves pods into it. Several kubelets on
one machine need several roots, so, as kind's node entrypoint does for its
containers, every host lives in `harness/<lab>.<host>` on each hierarchy of
the machine (cgroup v1 controllers, the named systemd hierarchy, the v2
mount) and in a cgroup namespace rooted there, with the hierarchies mounted
again inside its mount namespace: `/proc/self/cgroup` says `/` and
`/sys/fs/cgroup/cpu` is the subtree.

The subtree is also how a host's processes are found when they are in none
of its namespaces (containers run by the host's containerd live in their own
network and mount namespaces), and it is removed with the host.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from provisioners.mounts import mounts

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "harness"


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: str     # where the machine mounts it, e.g. /sys/fs/cgroup/cpu
    fstype: str         # cgroup or cgroup2
    options: str        # what to mount it with again: "cpu", "none,name=systemd"


def hierarchies() -> list[Hierarchy]:
    """The machine's cgroup hierarchies under /sys/fs/cgroup."""
    found = []
    for mount in mounts():
        if mount.fstype not in ("cgroup", "cgroup2") or not mount.mountpoint.startswith(f"{CGROUP_ROOT}/"):
            continue
        if mount.fstype == "cgroup2":
            options = ""
        else:
            supers = [o for o in mount.super_options.split(",") if o not in ("rw", "ro")]
            options = ",".join(["none", *supers] if all(o.startswith("name=") for o in supers)
                               else supers)
        found.append(Hierarchy(mount.mountpoint, mount.fstype, options))
    return found


def subtree(lab_id: str, host: str) -> str:
    return f"{PARENT}/{lab_id}.{host}"


def _copy_cpuset(parent: Path, child: Path) -> None:
    """A v1 cpuset cgroup takes no task until it has CPUs and memory nodes."""
    for knob in ("cpuset.cpus", "cpuset.mems"):
        if (parent / knob).exists() and not (child / knob).read_text().strip():
            (child / knob).write_text((parent / knob).read_text())


def make(lab_id: str, host: str) -> list[Path]:
    """The host's cgroup directory on every hierarchy (made if missing)."""
    dirs = []
    for h in hierarchies():
        parent = Path(h.mountpoint)
        for part in subtree(lab_id, host).split("/"):
            child = parent / part
            child.mkdir(exist_ok=True)
            _copy_cpuset(parent, child)
            parent = child
        dirs.append(parent)
    return dirs


def lab_dirs(lab_id: str) -> list[Path]:
    return [d for h in hierarchies() for d in Path(h.mountpoint, PARENT).glob(f"{lab_id}.*")
            if d.is_dir()]


def pids_in(dirs: list[Path]) -> set[int]:
    pids = set()
    for top in dirs:
        for procs in top.rglob("cgroup.procs"):
            try:
                pids |= {int(p) for p in procs.read_text().split()}
            except OSError:
                pass
    return pids


def _freeze(dirs: list[Path], state: str) -> None:
    """Freeze the subtrees so that nothing forks while it is being killed."""
    for d in dirs:
        knob = d / "freezer.state"
        if knob.exists():
            try:
                knob.write_text(state)
            except OSError:
                pass


def remove(lab_id: str, timeout: float = 5.0) -> list[str]:
    """Kill every process in the lab's subtrees and remove them, deepest
    first. Returns what could not be removed (a process or a directory)."""
    dirs = lab_dirs(lab_id)
    deadline = time.monotonic() + timeout
    _freeze(dirs, "FROZEN")
    while (pids := pids_in(dirs)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _freeze(dirs, "THAWED")   # a frozen process dies of SIGKILL only once thawed
        time.sleep(0.02)
    left = [f"process {pid} in cgroup {d}" for d in dirs for pid in pids_in([d])]
    for d in dirs:
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _rmdir(sub, left)
        _rmdir(d, left)
    return left


def _rmdir(path: Path, left: list[str]) -> None:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        left.append(f"cgroup {path}: {exc.strerror}")
