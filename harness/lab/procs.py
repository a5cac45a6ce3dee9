"""Finding processes by the namespaces they live in.

A lab host's processes are exactly those whose network or mount namespace is
one of the host's. Nothing is recorded about them, so nothing can go stale:
crash() and cleanup look them up again each time.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path


def ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in(inodes: set[int], kinds: tuple[str, ...] = ("net", "mnt")) -> list[int]:
    """Pids whose namespace of one of `kinds` is one of `inodes` (never our own)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        for kind in kinds:
            try:
                if os.stat(f"/proc/{entry}/ns/{kind}").st_ino in inodes:
                    found.append(int(entry))
                    break
            except OSError:
                break
    return found


class Survivors(RuntimeError):
    def __init__(self, pids: list[int], timeout: float):
        self.pids = pids
        super().__init__(f"processes {pids} survived SIGKILL for {timeout}s")


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"


def kill_all(inodes: set[int], timeout: float = 5.0) -> list[int]:
    """SIGKILL every process in the namespaces until none is left.

    Returns the pids that were killed. Zombies hold no namespace, so a
    process that is gone from the namespace counts as gone.
    """
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_in(inodes) if inodes else []
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise Survivors(pids, timeout)
        time.sleep(0.02)


def process_start_time(pid: int) -> int | None:
    """The start time of pid in clock ticks since boot: with the pid it
    identifies a process even after the pid number is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int | None, start_time: int | None) -> bool:
    return pid is not None and process_start_time(pid) == start_time


def _int_or_none(value) -> int | None:
    return int(value) if value not in (None, "", "None", 0, "0") else None


@dataclass(frozen=True)
class Owner:
    """The process a lab belongs to, recorded the same way by every provisioner
    (as docker labels, in libvirt metadata): its pid, that pid's start time
    (a reused pid is not taken for it) and its machine."""
    pid: int | None
    start: int | None
    machine: str

    @classmethod
    def me(cls) -> Owner:
        return cls(os.getpid(), process_start_time(os.getpid()), socket.gethostname())

    def fields(self) -> dict[str, str]:
        return {"owner": str(self.pid), "owner_start": str(self.start), "owner_host": self.machine}

    @classmethod
    def from_fields(cls, fields: dict, prefix: str = "") -> Owner:
        """The owner from what `fields()` wrote (keys under `prefix`; values as
        strings, or ints in records older than this helper)."""
        return cls(_int_or_none(fields.get(f"{prefix}owner")),
                   _int_or_none(fields.get(f"{prefix}owner_start")),
                   fields.get(f"{prefix}owner_host") or socket.gethostname())

    def alive(self) -> bool:
        # an owner on another machine cannot be checked from here: assume alive
        return self.machine != socket.gethostname() or alive(self.pid, self.start)
