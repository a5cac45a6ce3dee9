"""The mount table of this process's mount namespace (/proc/self/mountinfo),
read the way proc(5) lays it out: what netns pins, cgroup hierarchies and
the netns provisioner's own directories are looked up in."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""
    id: int
    parent: int
    device: str          # major:minor
    root: str            # for nsfs: "net:[4026532178]"
    mountpoint: str
    fstype: str
    super_options: str   # e.g. "rw,cpu" for a cgroup v1 hierarchy

    @property
    def ns_inode(self) -> int | None:
        if self.fstype == "nsfs" and self.root.endswith("]"):
            return int(self.root.rsplit("[", 1)[1][:-1])
        return None


def _unescape(field: str) -> str:
    """Spaces, tabs, newlines and backslashes are written as octal escapes."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounts() -> list[Mount]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        found.append(Mount(int(fields[0]), int(fields[1]), fields[2], _unescape(fields[3]),
                           _unescape(fields[4]), fields[sep + 1], fields[sep + 3]))
    return found
