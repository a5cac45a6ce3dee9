"""Processes a run starts on a customer's host over ssh, tied to the run.

A process runs under the ssh session that started it, and ends with it: the
session's stdin is a pipe only this process holds open, and on the host a
watcher kills the command when that stdin ends. So closing the pipe ends
the command (and the session once it is gone), and so does the end of this
process however it ends, `kill -9` included: nothing the run started stays
on the host. A lab host's popen and supervisor services are the lab's; these
are what an ssh host offers instead.

`ProcessService` is `host.service(name)` on such a host: define (start),
stop, restart, status, wait_for_state and logs, as the suites use a lab's
supervised services. Its output goes to a log in the run's directory on the
host, removed when the run ends.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from typing import TYPE_CHECKING

from harness.lab.supervisor import Service

if TYPE_CHECKING:
    from harness.setups.inventory import SshHost

#: runs "$@" until it ends or this shell's stdin (the ssh channel's) does
#: (the watcher is killed first once "$@" ends: its pid may be another's then)
TIED = ('exec 3<&0 </dev/null; "$@" 3<&- & p=$!; '
        '{ cat <&3 >/dev/null; kill $p; } >/dev/null 2>&1 & w=$!; '
        'wait $p; r=$?; kill $w 2>/dev/null; exit $r')
STOP_S = 15


class Tied:
    """The write ends of the stdin pipes of the processes an ssh host started."""

    def __init__(self):
        self.ends: dict[int, int] = {}

    def popen(self, ssh_argv: list[str], argv: list[str], **kwargs) -> subprocess.Popen:
        read, write = os.pipe()
        os.set_inheritable(write, False)
        try:
            proc = subprocess.Popen([*ssh_argv, "--", shlex.join(["sh", "-c", TIED, "sh", *argv])],
                                    stdin=read, **kwargs)
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        self.ends[proc.pid] = write
        return proc

    def end(self, proc: subprocess.Popen, timeout: float = STOP_S) -> None:
        """End the command on the host and wait until it is gone (its session ends)."""
        write = self.ends.pop(proc.pid, None)
        if write is not None:
            os.close(write)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def end_all(self) -> None:
        for write in self.ends.values():
            os.close(write)
        self.ends.clear()


class ProcessService(Service):
    """A service of the run's own on an ssh host: what suites do with a lab's
    supervised Service (define, stop, restart, status, wait_for_state, logs)."""
    host: SshHost

    def __repr__(self) -> str:
        return f"<ProcessService {self.name} on {self.host.name}>"

    @property
    def log(self) -> str:
        return f"{self.host.run_dir}/{self.name}.log"

    def define(self, command: str | list[str], autostart: bool = True) -> ProcessService:
        """Remember the command; start it now (autostart)."""
        if self.name in self.host.processes:
            self.stop()
        self.host.commands[self.name] = command if isinstance(command, str) else shlex.join(command)
        if autostart:
            self.start()
        return self

    def start(self) -> None:
        if self.status() == "RUNNING":
            return
        command = self.host.commands[self.name]
        self.host.succeed(f"mkdir -p {shlex.quote(self.host.run_dir)}")
        self.host.processes[self.name] = self.host.popen(
            ["sh", "-c", f"exec {command} >>{shlex.quote(self.log)} 2>&1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        proc = self.host.processes.pop(self.name, None)
        if proc is not None:
            self.host.tied.end(proc)

    def status(self) -> str:
        """RUNNING, EXITED (its command or session ended), STOPPED or UNDEFINED."""
        if self.name not in self.host.commands:
            return "UNDEFINED"
        proc = self.host.processes.get(self.name)
        if proc is None:
            return "STOPPED"
        return "RUNNING" if proc.poll() is None else "EXITED"
