"""The interface every provisioner implements (compare kind's Provider).

A provisioner finds its own objects (by name prefix or label) every time it
is asked: it keeps no state that could disagree with the machine.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.lab.progress import Steps

if TYPE_CHECKING:
    from harness.lab import Lab, LabRecord
    from harness.lab.host import Host
    from harness.model.topology import Topology


class Unsupported(ValueError):
    """The topology or options ask for what this backend cannot do; raised
    before anything is made."""


class StuckLab(RuntimeError):
    """A lab that could not be removed completely: what still holds it, and
    how a person can release it."""

    def __init__(self, lab_id: str, holders: list[str], release: str):
        self.lab_id, self.holders, self.release = lab_id, holders, release
        super().__init__(f"lab {lab_id} could not be removed; held by: {'; '.join(holders)}. "
                         f"Release it with: {release}")


@dataclass
class GcReport:
    """What gc did: the labs it removed and the labs it could not."""
    removed: list[str] = field(default_factory=list)
    stuck: list[StuckLab] = field(default_factory=list)


class Provisioner(ABC):
    name: str = "?"
    #: what its hosts can do beyond the Host API, declared on every target
    #: of its labs ("popen": a streaming process on a host, e.g. a capture)
    capabilities: frozenset[str] = frozenset()

    def available(self) -> bool:
        """Whether this backend can make labs on this machine right now."""
        return True

    @abstractmethod
    def create(self, topology: Topology, ssh: bool = False, steps: Steps | None = None) -> Lab:
        """Make every host and network of the topology. On any failure, or an
        interrupt, whatever was made is removed again before raising."""

    @abstractmethod
    def attach(self, lab_id: str) -> Lab:
        """A Lab handle for a lab that is already up (raises LookupError)."""

    @abstractmethod
    def destroy(self, lab_id: str) -> None:
        """Remove everything of the lab; succeeds on a half-made or half-gone lab."""

    @abstractmethod
    def detach(self, lab_id: str) -> None:
        """Clear the lab's owner so that gc keeps it."""

    @abstractmethod
    def list(self) -> list[LabRecord]:
        """Every lab of this backend on the machine, complete or not."""

    def gc(self, everything: bool = False) -> GcReport:
        """Destroy orphaned labs (or all labs). A lab that cannot be removed is
        reported and skipped: it never keeps gc from removing the others."""
        report = GcReport()
        for record in self.list():
            if everything or record.orphaned:
                try:
                    self.destroy(record.id)
                except StuckLab as exc:
                    report.stuck.append(exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - one lab's trouble is reported, not raised
                    report.stuck.append(StuckLab(record.id, [f"{type(exc).__name__}: {exc}"],
                                                 f"harness down {record.id} (after fixing the cause)"))
                    continue
                report.removed.append(record.id)
        return report

    def console(self, host: Host) -> bytes | None:
        """What the host printed where no command on it can read it (a VM's
        serial console: kernel and boot); None where hosts have no console
        of their own. Diagnostics bundles keep its end."""
        return None
