"""The Debian packages of the harness: harness/debian-packages.txt, the one
list that harness/install.sh, the host image build and `harness doctor` read."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_LIST = Path(__file__).resolve().parent.parent / "debian-packages.txt"


@dataclass(frozen=True)
class DebianPackage:
    name: str
    where: str             # machine, image or both
    command: str | None    # a command on PATH (or a path) that shows it is there
    needed_for: str

    @property
    def on_machine(self) -> bool:
        return self.where in ("machine", "both")

    @property
    def in_image(self) -> bool:
        return self.where in ("image", "both")


@cache
def packages() -> tuple[DebianPackage, ...]:
    rows = []
    for line in PACKAGE_LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, where, command, needed_for = line.split(None, 3)
            if where not in ("machine", "image", "both"):
                raise ValueError(f"{PACKAGE_LIST}: {name}: where is {where!r}")
            rows.append(DebianPackage(name, where, None if command == "-" else command,
                                      "" if needed_for == "-" else needed_for))
    return tuple(rows)


def image_packages() -> tuple[str, ...]:
    return tuple(p.name for p in packages() if p.in_image)
