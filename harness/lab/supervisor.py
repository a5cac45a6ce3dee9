"""Services on a lab host, run by the host's own supervisord.

supervisord plays the part systemd plays on a VM: `host.service("etcd")`
defines, starts, stops and restarts a program and reads its log. Programs are
defined by writing a file into the host's /etc/supervisor/conf.d and asking
supervisord to pick it up, so a crash-and-start of the host brings back the
programs marked autostart, as enabled units come back after a reboot.
"""
from __future__ import annotations

import shlex
import xmlrpc.client
from pathlib import Path
from typing import TYPE_CHECKING

from harness.lab import templates
from harness.lab.wait import wait_until

if TYPE_CHECKING:
    from harness.lab.host import Host

CONFIG_PATH = "/etc/supervisor/harness.conf"
SOCKET_PATH = "/run/supervisor.sock"
PROGRAM_DIR = "/etc/supervisor/conf.d"

#: supervisord's own config on every lab host (host images and netns hosts)
MAIN_CONFIG = templates.render(Path(__file__).parent, "supervisord.conf.j2", socket=SOCKET_PATH,
                               program_dir=PROGRAM_DIR)


def program_conf(name: str, command: str | list[str], environment: dict[str, str] | None = None,
                 autostart: bool = True, autorestart: bool = False, directory: str = "/",
                 stopsignal: str = "TERM", startsecs: int = 1, startretries: int = 3,
                 stopwaitsecs: int = 10, user: str | None = None) -> str:
    """A supervisord [program:NAME] section; its output goes to /var/log/NAME.log."""
    if isinstance(command, list):
        command = shlex.join(command)
    return templates.render(Path(__file__).parent, "program.conf.j2", name=name, command=command,
                            directory=directory, autostart=autostart, autorestart=autorestart,
                            startsecs=startsecs, startretries=startretries, stopsignal=stopsignal,
                            stopwaitsecs=stopwaitsecs, user=user, environment=environment)


class ServiceError(RuntimeError):
    pass


def unix_proxy(socket_path: str) -> xmlrpc.client.ServerProxy:
    from supervisor.xmlrpc import SupervisorTransport
    return xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{socket_path}"))


class Service:
    def __init__(self, host: Host, name: str):
        self.host, self.name = host, name

    def __repr__(self) -> str:
        return f"<Service {self.name} on {self.host.name}>"

    @property
    def _rpc(self):
        return self.host.supervisor_proxy().supervisor

    def define(self, command: str | list[str], **options) -> Service:
        """Write the program definition (`program_conf` with these options)
        and load it.

        With autostart (the default) the service is enabled: supervisord starts
        it now and again whenever the host starts after a crash.
        """
        program = program_conf(self.name, command, **options)
        self.host.put_file(f"{PROGRAM_DIR}/{self.name}.conf", program)
        rpc = self._rpc
        added, changed, removed = rpc.reloadConfig()[0]
        if self.name in changed or self.name in removed:
            try:
                rpc.stopProcessGroup(self.name)
            except xmlrpc.client.Fault:
                pass
            rpc.removeProcessGroup(self.name)
        if self.name in added or self.name in changed:
            try:
                rpc.addProcessGroup(self.name)
            except xmlrpc.client.Fault as fault:
                if "ALREADY_ADDED" not in fault.faultString:
                    raise
        return self

    def _call(self, method: str, *args):
        try:
            return getattr(self._rpc, method)(*args)
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" in fault.faultString:
                raise ServiceError(f"service {self.name} is not defined on host {self.host.name}") from None
            if method == "startProcess" and "ALREADY_STARTED" in fault.faultString:
                return True
            if method == "stopProcess" and "NOT_RUNNING" in fault.faultString:
                return True
            if "SPAWN_ERROR" in fault.faultString or "ABNORMAL_TERMINATION" in fault.faultString:
                raise ServiceError(f"service {self.name} on {self.host.name} did not start: "
                                   f"{fault.faultString}; log tail:\n{self.logs(tail=2000)}") from None
            raise

    def start(self) -> None:
        self._call("startProcess", self.name, True)

    def stop(self) -> None:
        self._call("stopProcess", self.name, True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def info(self) -> dict:
        return self._call("getProcessInfo", self.name)

    def status(self) -> str:
        """RUNNING, STOPPED, EXITED, FATAL, STARTING, BACKOFF ... or UNDEFINED."""
        try:
            return self.info()["statename"]
        except ServiceError:
            return "UNDEFINED"

    @property
    def pid(self) -> int | None:
        return self.info()["pid"] or None

    def wait_for_state(self, state: str, timeout: float = 30) -> None:
        def reached():
            now = self.status()
            if now != state:
                raise ServiceError(f"state {now}")
            return True
        wait_until(reached, f"service {self.name} on {self.host.name} to be {state}", timeout)

    @property
    def log(self) -> str:
        """The file the service's output goes to."""
        return f"/var/log/{self.name}.log"

    def logs(self, tail: int | None = None) -> str:
        data = self.host.run(f"cat {shlex.quote(self.log)} 2>/dev/null").stdout
        return data[-tail:] if tail else data
