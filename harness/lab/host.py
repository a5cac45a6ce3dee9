"""The Host API, modelled on the NixOS test driver's Machine.

The core any host offers is `exec` (and what is built on it: `run`,
`succeed`, `put_file`, `get_file`, ...): a lab host, a customer's host
over ssh. What a lab host offers beyond it is a capability: how its links
are cut (`block`/`unblock`), how all its processes die (`crash`) and come
back (`start`), its supervisor, a shell, connections from inside it. A host
without one raises MissingCapability naming it, which the pytest plugin
reports as a skip with that capability named, never as a pass or a failure.
"""
from __future__ import annotations

import json
import shlex
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO

from harness.lab.wait import wait_until

#: a host's own bin directory, first on its PATH: what a setup puts there
#: (kubectl on a master, say) is on that host only, never on the machine
HOST_BIN_DIR = "/var/lib/harness/bin"

if TYPE_CHECKING:
    from harness.lab.supervisor import Service
    from harness.model.topology import HostSpec


@dataclass(frozen=True)
class CommandResult:
    host: str
    cmd: str
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def summary(self, limit: int = 400) -> str:
        out = (self.stderr.strip() or self.stdout.strip())[-limit:]
        return f"rc={self.rc}" + (f": {out}" if out else "")


class CommandFailed(AssertionError):
    def __init__(self, result: CommandResult, expectation: str):
        self.result = result
        super().__init__(f"[{result.host}] `{result.cmd}` {expectation} ({result.summary()})")


class MissingCapability(NotImplementedError):
    """The host (or the target) cannot offer `capability`; `why` says why."""

    def __init__(self, capability: str, why: str):
        self.capability = capability
        super().__init__(f"lacks capability: {capability} ({why})")


class Host(ABC):
    """One host: a lab's (a namespace set, a container, a VM) or one of a
    cluster the harness attaches to (reached over ssh)."""

    #: local addresses where the provisioner's engine, not the setup, listens
    #: (docker's embedded resolver): suites checking listeners leave them out
    engine_addresses: frozenset[str] = frozenset()

    def __init__(self, spec: HostSpec, lab_id: str):
        self.spec = spec
        self.name = spec.name
        self.roles = spec.roles
        self.lab_id = lab_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} of lab {self.lab_id}>"

    # -- the core: what every host provides ------------------------------------
    @abstractmethod
    def exec(self, argv: list[str], input: bytes | BinaryIO | None = None,
             timeout: float | None = 60) -> CommandResult:
        """Run argv on the host and wait for it. `input` is its stdin: bytes,
        or a binary file with a descriptor, passed on as it is read (a pipe
        into `harness exec`); None gives it an empty stdin."""

    def missing(self, capability: str) -> MissingCapability:
        return MissingCapability(capability, f"{type(self).__name__} {self.name} does not offer it")

    def shell_argv(self) -> list[str]:
        """The command line that opens an interactive shell on the host."""
        raise self.missing("shell")

    def crash(self) -> None:
        """Kill every process of the host at once, as a power cut would."""
        raise self.missing("crash")

    def start(self) -> None:
        """Boot the host's service manager again after a crash."""
        raise self.missing("crash")

    def block(self) -> None:
        """Silently drop everything on the host's lab links."""
        raise self.missing("block")

    def unblock(self) -> None:
        """Undo block()."""
        raise self.missing("block")

    def supervisor_proxy(self):
        """An XML-RPC proxy to the host's supervisord."""
        raise self.missing("supervisor")

    def connect(self, address: str, port: int, timeout: float = 10) -> socket.socket:
        """A TCP connection to address:port made from inside the host's
        network, as a process on the host would make it: how the harness
        reaches what listens only in the lab (provisioner capability
        "connect"; the connection never leaves the lab's namespaces)."""
        raise self.missing("connect")

    def testinfra_backend(self):
        """A testinfra backend that runs commands on this host."""
        from harness.lab.testinfra_backend import HarnessBackend
        return HarnessBackend(self)

    # -- built on the above -------------------------------------------------
    def run(self, cmd: str, timeout: float | None = 60, input: bytes | str | None = None
            ) -> CommandResult:
        if isinstance(input, str):
            input = input.encode()
        result = self.exec(["sh", "-c", cmd], input=input, timeout=timeout)
        return CommandResult(self.name, cmd, result.rc, result.stdout, result.stderr)

    def succeed(self, cmd: str, timeout: float | None = 60) -> str:
        result = self.run(cmd, timeout=timeout)
        if not result.ok:
            raise CommandFailed(result, "failed")
        return result.stdout

    def fail(self, cmd: str, timeout: float | None = 60) -> str:
        result = self.run(cmd, timeout=timeout)
        if result.ok:
            raise CommandFailed(result, "succeeded but was expected to fail")
        return result.stderr

    def wait_until_succeeds(self, cmd: str, timeout: float = 30) -> str:
        def attempt():
            result = self.run(cmd, timeout=timeout)
            if not result.ok:
                raise RuntimeError(result.summary())
            return result.stdout or True
        out = wait_until(attempt, f"`{cmd}` to succeed on {self.name}", timeout)
        return out if isinstance(out, str) else ""

    def wait_until_fails(self, cmd: str, timeout: float = 30) -> None:
        def attempt():
            result = self.run(cmd, timeout=timeout)
            if result.ok:
                raise RuntimeError(f"still succeeds: {result.stdout.strip()[-200:]}")
            return True
        wait_until(attempt, f"`{cmd}` to fail on {self.name}", timeout)

    def listening(self, port: int, proto: str = "tcp") -> list[str]:
        """Local addresses the host listens on for port (from `ss`)."""
        flag = "-Hltn" if proto == "tcp" else "-Hlun"
        out = self.succeed(f"ss {flag} 'sport = :{int(port)}'")
        return [line.split()[3] for line in out.splitlines() if line.strip()]

    def routes(self, family: int, *selectors: str) -> list[dict]:
        """The host's IPv`family` routes (matching `selectors`, as `ip route
        show` takes them), as `ip -j` reports them: dst, gateway, dev, ..."""
        return self._ip_json(f"-{family}", "route", "show", *selectors)

    def links(self, *selectors: str) -> list[dict]:
        """The host's links with their addresses (matching `selectors`, as `ip
        addr show` takes them), as `ip -j` reports them: ifname, flags, addr_info, ..."""
        return self._ip_json("addr", "show", *selectors)

    def addresses(self, *selectors: str) -> set[str]:
        """"<link> <address>/<prefix>" for every address `links` reports."""
        return {f"{link['ifname']} {a['local']}/{a['prefixlen']}"
                for link in self.links(*selectors) for a in link.get("addr_info", [])
                if "local" in a}  # a link without a matching address shows `{}`

    def _ip_json(self, *args: str) -> list[dict]:
        return json.loads(self.succeed(shlex.join(["ip", "-j", *args])) or "[]")

    def wait_for_port(self, port: int, proto: str = "tcp", timeout: float = 30) -> None:
        wait_until(lambda: self.listening(port, proto),
                   f"{proto} port {port} to listen on {self.name}", timeout)

    def put_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        q = shlex.quote(path)
        result = self.exec(["sh", "-c", f"mkdir -p \"$(dirname {q})\" && cat > {q} && chmod {mode:o} {q}"],
                           input=data)
        if not result.ok:
            raise CommandFailed(result, f"could not write {path}")

    def get_file(self, path: str) -> bytes:
        result = self.exec(["cat", path])
        if not result.ok:
            raise CommandFailed(result, f"could not read {path}")
        return result.stdout.encode("utf-8", "surrogateescape")

    def service(self, name: str) -> Service:
        from harness.lab.supervisor import Service
        return Service(self, name)

    def services(self) -> dict[str, str]:
        """Every service defined on the host and its state (RUNNING, STOPPED, ...)."""
        return {info["name"]: info["statename"]
                for info in self.supervisor_proxy().supervisor.getAllProcessInfo()}

    def dns_lookup(self, name: str, rdtype: str = "A"):
        """Ask this host's own resolver (its /etc/resolv.conf) for `name`, as a
        pod or HAProxy here would: status and addresses (harness.lab.resolver)."""
        from harness.lab.resolver import lookup
        return lookup(self, name, rdtype)

    def address(self, network: str | None = None, family: str = "ipv4") -> str:
        nets = [network] if network else list(self.spec.addresses)
        for net in nets:
            addr = self.spec.address(net, family)
            if addr is not None:
                return str(addr)
        raise LookupError(f"host {self.name} has no {family} address"
                          + (f" on network {network}" if network else ""))

    @cached_property
    def testinfra(self):
        """A pytest-testinfra Host working on this lab host."""
        import testinfra.host
        return testinfra.host.Host(self.testinfra_backend())
