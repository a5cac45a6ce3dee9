"""Fixtures for the harness's own tests: real netns labs, and a check that a
lab left no trace on the machine."""
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import pytest

from harness.lab import procs
from harness.model import topology
from provisioners import host_cgroups
from provisioners.netns import NETNS_DIR, NetnsProvisioner

# The tests stand for a user at a terminal, whose Ctrl-C reaches the harness.
# A run started in the background of a script (`cmd &`, no job control)
# inherits SIGINT ignored, and so would every harness process these tests
# interrupt with SIGINT; a Python handler here is reset to the default in the
# processes they start, which then turn it into KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)

TWO_HOSTS = Path(__file__).resolve().parent / "fixtures" / "two-hosts.yaml"
HOLDER = Path(__file__).resolve().parent / "lab_holder.py"
START_DAEMONS = Path(__file__).resolve().parent.parent / ".ci" / "start-daemons"


@pytest.fixture(scope="session")
def two_hosts():
    return topology.load(TWO_HOSTS)


@pytest.fixture
def netns():
    return NetnsProvisioner()


@pytest.fixture
def small_lab(netns, two_hosts):
    with netns.create(two_hosts) as lab:
        yield lab


#: _IOR(NSIO, 13, __u64): a namespace's 64-bit id (Linux 6.18 for every kind)
NS_GET_ID = (2 << 30) | (8 << 16) | (0xB7 << 8) | 13


@pytest.fixture
def lab_holder(netns):
    """start(TOPOLOGY, *flags) runs tests/lab_holder.py, a harness process
    holding a lab, and returns (process, lab id) once it says "ready". What a
    red test leaves (the holder alive, its lab) goes at teardown, so one
    failure does not starve the next tests (a real cluster left running
    holds the machine's inotify instances, memory and CPU)."""
    started = []

    def start(*args) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([sys.executable, str(HOLDER), *map(str, args)], cwd=HOLDER.parent.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        lab_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
        return proc, lab_id
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if started:
        netns.gc()


def ns_id(path: str) -> int | None:
    """The id of the namespace at `path`. Unlike its inode number, which the
    kernel hands to a new namespace once this one is freed (another lab's, in
    a busy run), an id is never reused. None where the kernel has no ids."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return struct.unpack("Q", fcntl.ioctl(fd, NS_GET_ID, bytes(8)))[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def lab_footprint(netns: NetnsProvisioner, lab_id: str) -> dict:
    """Everything of a lab that could leak: names, namespaces (inode: id), dirs."""
    files = list(NETNS_DIR.glob(f"hl.{lab_id}.*")) + list(netns.ns_dir.glob(f"{lab_id}.*"))
    return {"files": files,
            "inodes": {procs.ns_inode(str(f)): ns_id(str(f)) for f in files if procs.ns_inode(str(f))},
            "dir": netns.lab_dir(lab_id)}


def is_lab_namespace(path: str, inodes: dict[int, int | None]) -> bool:
    """The namespace at `path` is one of the lab's: its inode, and its id
    where known (an equal inode may be a newer namespace)."""
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return False
    if inode not in inodes:
        return False
    known, found = inodes[inode], ns_id(path)
    return known is None or found is None or known == found


def describe(pid: int) -> str:
    """A process as a leak report names it: command, parent, state, cgroup."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        memory = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                  if ":memory:" in line]
    except OSError:
        return f"{pid} (gone)"
    return (f"{pid} {procs.command_of(pid)} state {stat[0]}, parent {stat[1]} "
            f"{procs.command_of(int(stat[1]))}, cgroup {memory[0].split(':', 2)[2] if memory else '?'}")


def assert_no_trace(netns: NetnsProvisioner, lab_id: str, inodes: dict[int, int | None]) -> None:
    left = lab_footprint(netns, lab_id)
    assert not left["files"], f"namespace files left: {left['files']}"
    assert not left["dir"].exists(), f"lab directory left: {left['dir']}"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert lab_id not in mounts, "mounts of the lab left"
    pinned = [line.split()[4] for line in mounts.splitlines()
              if any(f"[{inode}]" in line for inode in inodes)]
    assert not [m for m in pinned if is_lab_namespace(m, inodes)], f"namespaces still mounted: {pinned}"
    # a namespace no process and no mount holds is freed by the kernel
    holders = [pid for pid in procs.pids_in(set(inodes), kinds=("net", "mnt", "uts"))
               if any(is_lab_namespace(f"/proc/{pid}/ns/{kind}", inodes)
                      for kind in ("net", "mnt", "uts"))]
    assert not holders, "processes still hold the lab's namespaces: " + "; ".join(
        describe(pid) for pid in holders)
    assert not host_cgroups.lab_dirs(lab_id), f"cgroups left: {host_cgroups.lab_dirs(lab_id)}"


def pids_alive(pids: list[int]) -> list[int]:
    """Those of the pids that still run (a zombie, killed and not yet reaped
    by its parent, holds nothing and counts as gone)."""
    alive_pids = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive_pids.append(pid)
    return alive_pids


def tunnel_threads(name: str) -> list[str]:
    """The threads of this process's tunnel `name` (harness.lab.tunnel), each
    with where it is: what a leak report needs."""
    frames = sys._current_frames()
    return [f"{t.name} at {traceback.format_stack(frames[t.ident])[-1].strip()}"
            for t in threading.enumerate()
            if t.name.startswith(f"tunnel {name}") and t.ident in frames]


def default_routes(host) -> list[dict]:
    """The host's IPv4 and IPv6 default routes: none in a lab, nothing may leave it."""
    return [r for r in host.routes(4) + host.routes(6) if r["dst"] == "default"]


def refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def start_engine(*args: str) -> None:
    """`.ci/start-daemons ARGS` (a no-op for an engine that answers); when it
    fails, the test fails with what the script said (its log's tail)."""
    started = subprocess.run([str(START_DAEMONS), *args], capture_output=True, text=True,
                             timeout=120)
    if started.returncode:
        pytest.fail(f"`.ci/start-daemons {' '.join(args)}` failed (exit {started.returncode}):\n"
                    f"{started.stdout}{started.stderr}", pytrace=False)
