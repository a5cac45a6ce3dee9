"""The interface every provisioner implements (compare kind's Provider).

A provisioner finds its own objects (by name prefix or label) every time it
is asked: it keeps no state that could disagree with the machine.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from harness.progress import Steps

if TYPE_CHECKING:
    from harness.lab import Lab, LabRecord
    from harness.topology import Topology


class Unsupported(ValueError):
    """The topology or options ask for what this backend cannot do; raised
    before anything is made."""


class Provisioner(ABC):
    name: str = "?"

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

    def gc(self, everything: bool = False) -> list[str]:
        """Destroy orphaned labs (or all labs); return their ids."""
        removed = []
        for record in self.list():
            if everything or record.orphaned:
                self.destroy(record.id)
                removed.append(record.id)
        return removed

    @abstractmethod
    def collect_logs(self, lab: Lab, dest: Path) -> None:
        """Copy each host's logs under dest/<host>/."""
