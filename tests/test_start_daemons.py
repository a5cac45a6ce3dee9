""".ci/start-daemons on a machine whose /run outlived its processes (it is no
tmpfs here): pid files of engines that are gone may name pids that now belong
to other processes. A CI run failed that way ("pid file found, ensure docker is
not running"). A third dockerd, on its own socket and state, is started over
such pid files, so the engines other tests use are not touched.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import start_engine

SUFFIX = "stale-pidfile"
PIDFILE = Path(f"/run/docker-{SUFFIX}.pid")
EXEC_ROOT = Path(f"/run/docker-{SUFFIX}-exec")
SOCKET = Path(f"/run/docker-{SUFFIX}.sock")
STATE = [EXEC_ROOT, Path(f"/var/lib/docker-{SUFFIX}"), SOCKET, PIDFILE]

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None, reason="dockerd not installed")


def comm(pid: int) -> str:
    """The command name of process `pid`; "" when no such process runs."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


@pytest.fixture
def stranger():
    """A live process that is neither dockerd nor containerd."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def third_engine():
    yield
    if PIDFILE.exists() and comm(dockerd := int(PIDFILE.read_text())) == "dockerd":
        os.kill(dockerd, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{dockerd}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    for path in STATE:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def test_dockerd_starts_over_pid_files_that_name_other_processes(stranger, third_engine):
    (EXEC_ROOT / "containerd").mkdir(parents=True, exist_ok=True)
    for pidfile in (PIDFILE, EXEC_ROOT / "containerd" / "containerd.pid"):
        pidfile.write_text(str(stranger.pid))
    start_engine("docker", "--socket-suffix", SUFFIX)
    answer = subprocess.run(["docker", "-H", f"unix://{SOCKET}", "version", "-f",
                             "{{.Server.Version}}"], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert comm(int(PIDFILE.read_text())) == "dockerd"
    assert stranger.poll() is None, "the process a stale pid file named was touched"
