"""The Debian packages of the harness: harness/debian-packages.txt, the one
list that harness/install.sh, the host image build and `harness doctor` read."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_LIST = Path(__file__).resolve().parent.parent / "debian-packages.txt"
#: the Debian release of every root the harness makes (host images, e2e images)
SUITE = "bookworm"


class DebootstrapError(RuntimeError):
    pass


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


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line format)."""
    files = sorted(sources.glob("sources.list.d/*.sources")) + [sources / "sources.list"] \
        + sorted(sources.glob("sources.list.d/*.list"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M):
                found = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if found and "security" not in found.group(1):
                    return found.group(1)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1]
    raise LookupError(f"no apt source for Debian {SUITE} in {sources}; give --mirror")


def debootstrap(root: Path, packages: tuple[str, ...], mirror: str) -> None:
    """A minimal Debian SUITE root at `root` with `packages`, from `mirror`
    (at build time; nothing the harness runs later downloads)."""
    result = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
                             SUITE, str(root), mirror],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise DebootstrapError(f"debootstrap of Debian {SUITE} from {mirror} failed "
                               f"(rc={result.returncode}):\n{result.stdout[-3000:]}")
