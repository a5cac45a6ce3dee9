"""A running lab: its hosts, its topology, who owns it, how it ends.

A lab belongs to the process that made it (its owner) until it is detached
(`harness up`, `--keep`). `harness gc` removes labs whose owner is gone, which
is how a `kill -9` of the harness is cleaned up.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.model.topology import Topology

LAB_ID = re.compile(r"^[a-z][a-z0-9-]{0,23}-[0-9a-f]{6}$")


def new_lab_id(topology_name: str) -> str:
    return f"{topology_name}-{secrets.token_hex(3)}"


@dataclass
class LabRecord:
    """What `harness status` and `gc` know about a lab, found by its provisioner."""
    id: str
    provisioner: str
    topology: str
    owner_pid: int | None
    owner_alive: bool
    hosts: list[str]
    complete: bool = True

    @property
    def orphaned(self) -> bool:
        """Owned by a process that is gone, or half-made with nobody making it."""
        if self.owner_pid is not None:
            return not self.owner_alive
        return not self.complete


class LabBackend(Protocol):
    """What a lab needs of the provisioner that made it (provisioners.base.Provisioner
    is one; the lab layer does not import the provisioners above it)."""
    name: str
    capabilities: frozenset[str]

    def detach(self, lab_id: str) -> None: ...

    def destroy(self, lab_id: str) -> None: ...

    def console(self, host: Host) -> bytes | None: ...


class Lab:
    def __init__(self, lab_id: str, topology: Topology, provisioner: LabBackend,
                 hosts: dict[str, Host]):
        self.id = lab_id
        self.topology = topology
        self.provisioner = provisioner
        self.hosts = hosts
        self.keep = False
        self._closers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Lab {self.id} ({self.provisioner.name}, {len(self.hosts)} hosts)>"

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise LookupError(f"lab {self.id} has no host {name!r} "
                              f"(hosts: {', '.join(self.hosts)})") from None

    def with_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles]

    def on_close(self, closer: Callable[[], None]) -> None:
        """Have `closer` run when this process lets go of the lab: what the
        process holds for it (a tunnel into it, an API client) ends there."""
        self._closers.append(closer)

    def close(self) -> None:
        """End what this process holds for the lab, newest first; the lab
        itself stays. destroy() and detach() close first."""
        errors = []
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as exc:  # noqa: BLE001 - every closer runs; the first error is raised
                errors.append(exc)
        if errors:
            raise errors[0]

    def detach(self) -> None:
        """Let the lab outlive this process (until `harness down` or `gc --all`)."""
        self.close()
        self.provisioner.detach(self.id)

    def destroy(self) -> None:
        try:
            self.close()
        finally:
            self.provisioner.destroy(self.id)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        if self.keep:
            self.detach()
        else:
            self.destroy()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup path runs."""


def terminated_handler():
    """A SIGTERM handler raising Terminated in this process only.

    A forked child (pyroute2's netns helper is one, and gets SIGTERM when it
    is done) inherits the handler; raising there would unwind the parent's
    copied stack in the child, cleanup code included, and destroy the lab
    the parent is still making. The child just exits.
    """
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:
            os._exit(128 + signum)
        raise Terminated(f"signal {signum}")
    return handler


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into an exception in the main thread while inside."""
    handler = terminated_handler()
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


