"""What this machine has of the harness's prerequisites, and how to get the rest."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from harness.lab import debian


@dataclass(frozen=True)
class Prerequisite:
    what: str
    command: str          # a command on PATH that shows it is there
    needed_for: str
    install: str          # the command that installs it

    def present(self) -> bool:
        return shutil.which(self.command) is not None


def apt(package: str) -> str:
    return f"apt-get install -y {package}"


#: every package of harness/debian-packages.txt this machine needs that a
#: command shows, and what is not a Debian package
PREREQUISITES = [
    *(Prerequisite(p.name, p.command, p.needed_for, apt(p.name))
      for p in debian.packages() if p.on_machine and p.command),
    Prerequisite("kubectl", "kubectl", "the kubernetes target", "a kubectl binary on PATH"),
]


def check() -> list[tuple[Prerequisite, bool]]:
    return [(p, p.present() if not p.command.startswith("/") else os.path.exists(p.command))
            for p in PREREQUISITES]


def _package_image_name(image) -> str:
    """An image made from a Debian package: its name, or what is missing for one."""
    try:
        return image.ref
    except LookupError:
        return f"{image.repository} (Debian {image.package} is not installed)"


def kubernetes_artifacts() -> dict[str, str | None]:
    """Each Kubernetes artifact the harness uses -> its version in the cache, or
    None when absent (`harness artifacts build` or `import` provides them)."""
    from harness import artifacts
    from harness.artifacts import spec
    found = artifacts.current()
    wanted = [*spec.BINARIES, *(i.ref for i in spec.IMAGES), *map(_package_image_name, spec.PACKAGE_IMAGES),
              *spec.E2E_REFS]
    have = {a.name: a.version for a in found.manifest.artifacts} if found else {}
    return {name: have.get(name) for name in wanted}
