"""A pytest-testinfra backend that runs commands through a harness Host.

testinfra's own backends (local, ssh, docker, ...) reach a host by URL; a
netns lab host has no URL, so this backend hands testinfra's commands to
`Host.exec`. Every testinfra module (socket, file, package, process, ...)
then works on the lab host unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testinfra.backend.base import BaseBackend, CommandResult

if TYPE_CHECKING:
    from harness.lab.host import Host


class HarnessBackend(BaseBackend):
    NAME = "harness"

    def __init__(self, lab_host: Host, *args: Any, **kwargs: Any):
        self.lab_host = lab_host
        super().__init__(lab_host.name, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        command = self.get_command(command, *args)
        result = self.lab_host.exec(["sh", "-c", command])
        return self.result(result.rc, self.encode(command), result.stdout, result.stderr)
