"""The namespaces attached runs make on a cluster the harness did not make,
and their garbage collection.

Each run's namespace is labelled `app.kubernetes.io/managed-by=harness` and
annotated with who owns it: the machine (its machine id and the pid
namespace the owner's pid is a pid of), the boot, the owner's pid and its
start time (clock ticks after boot, /proc/PID/stat). A run ends by deleting
its namespace, also after Ctrl-C and SIGTERM; after a `kill -9` the
namespace stays, and `collect` removes it.

`collect` removes a namespace only when its owner is surely gone, seen from
the machine it ran on: that machine booted again since, or no process runs
there under the pid with that start time (a pid taken again by another
process is not the owner). A namespace of another machine (or of a process
in another pid namespace) is never touched: a run there may be alive, and
nothing here can tell. Neither is one without an owner recorded.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.lab.wait import wait_until

#: the label on every run's namespace: the harness made it
MANAGED_BY = {"app.kubernetes.io/managed-by": "harness"}
SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
OWNER = "harness/owner-"
NAMESPACE_GONE_S = 120


def _read(path: str) -> str:
    return Path(path).read_text().strip()


def start_ticks(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks after boot), None when there is none."""
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]   # field 22; the name may hold spaces


def machine() -> str:
    """Where a pid names a process: the machine id and this process's pid namespace."""
    return f"{_read('/etc/machine-id')}/{os.readlink('/proc/self/ns/pid')}"


def owner() -> dict[str, str]:
    """The annotations naming this process as a namespace's owner."""
    return {f"{OWNER}host": socket.gethostname(), f"{OWNER}machine": machine(),
            f"{OWNER}boot": _read("/proc/sys/kernel/random/boot_id"),
            f"{OWNER}pid": str(os.getpid()), f"{OWNER}start": start_ticks(os.getpid())}


def owner_gone(annotations: dict[str, str]) -> tuple[bool, str]:
    """(gone, why): whether the run that owns a namespace with these
    annotations has surely ended, and what says so (or why it is left)."""
    found = {k.removeprefix(OWNER): v for k, v in (annotations or {}).items() if k.startswith(OWNER)}
    if not {"machine", "boot", "pid", "start"} <= set(found):
        return False, "no owner recorded"
    where = f"pid {found['pid']} on {found.get('host', '?')}"
    if found["machine"] != machine():
        return False, f"a run of another machine ({where}): whether it lives cannot be seen from here"
    if found["boot"] != _read("/proc/sys/kernel/random/boot_id"):
        return True, f"its machine booted again since ({where})"
    if start_ticks(int(found["pid"])) == found["start"]:
        return False, f"its run is alive ({where})"
    return True, f"its run is gone ({where})"


def create(core: client.CoreV1Api, name: str, run: str) -> None:
    core.create_namespace({"metadata": {"name": name, "labels": {**MANAGED_BY, "harness/run": run},
                                        "annotations": owner()}})


def delete(core: client.CoreV1Api, name: str) -> None:
    """Delete a run's namespace and wait until it is gone."""
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False
    wait_until(gone, f"the run's namespace {name} to be deleted", NAMESPACE_GONE_S, interval=0.5)


@dataclass
class Collected:
    #: namespace -> why it was removed / why it was left
    removed: dict[str, str]
    left: dict[str, str]


def collect(api: client.ApiClient) -> Collected:
    """Remove the run namespaces whose run is surely gone; say why each other one is left."""
    core = client.CoreV1Api(api)
    found = Collected({}, {})
    for namespace in core.list_namespace(label_selector=SELECTOR).items:
        name = namespace.metadata.name
        gone, why = owner_gone(namespace.metadata.annotations)
        if gone:
            delete(core, name)
            found.removed[name] = why
        else:
            found.left[name] = why
    return found
