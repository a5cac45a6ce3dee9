"""A layer of this machine's own programs, with every library they load.

kube-proxy (iptables mode) and kube-router exec iptables, ipset and ip; their
images get Debian's programs as installed here (harness/debian-packages.txt)
rather than a distribution root: each program, the symlinks that lead to it
(/usr/sbin/iptables -> /etc/alternatives/iptables -> iptables-nft ->
xtables-nft-multi, /lib -> usr/lib), and the shared-library closure `ldd`
reports for every file taken, the dynamic loader included.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from harness.artifacts import images, store

#: a library `ldd` resolved: "libc.so.6 => /lib/.../libc.so.6 (0x...)" or the loader's "/lib64/ld-... (0x...)"
_LDD_PATH = re.compile(r"(/\S+) \(0x[0-9a-f]+\)")
#: how many symlinks one path may pass through (as the kernel's ELOOP limit)
MAX_LINKS = 40


class HostToolsError(RuntimeError):
    pass


def _resolve(path: str, links: dict[str, str]) -> str:
    """The real path of `path`, adding to `links` every symlink passed on the
    way (its path -> its target as written), directories included."""
    pending = [p for p in path.split("/") if p]
    real: list[str] = []
    followed = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            real = real[:-1]
            continue
        if part == ".":
            continue
        here = "/" + "/".join([*real, part])
        if not os.path.islink(here):
            real.append(part)
            continue
        followed += 1
        if followed > MAX_LINKS:
            raise HostToolsError(f"{path}: more than {MAX_LINKS} symlinks")
        target = os.readlink(here)
        links[here] = target
        if target.startswith("/"):
            real = []
        pending = [p for p in target.split("/") if p] + pending
    return "/" + "/".join(real)


def _libraries(program: str) -> list[str]:
    """What `ldd` says `program` loads (paths as the loader finds them); none
    for a static program or a file that is no ELF object."""
    result = subprocess.run(["ldd", program], capture_output=True, text=True)
    if result.returncode != 0:
        if "not a dynamic executable" in result.stdout + result.stderr:
            return []
        raise HostToolsError(f"ldd {program} failed: {(result.stderr or result.stdout).strip()}")
    return _LDD_PATH.findall(result.stdout)


def _expand(paths: tuple[str, ...]) -> list[str]:
    """`paths` with each directory replaced by the entries in it (xtables' modules)."""
    found = []
    for path in paths:
        if not os.path.lexists(path):
            raise HostToolsError(f"{path} is not on this machine (harness/install.sh installs its package)")
        found += sorted(str(p) for p in Path(path).iterdir()) if os.path.isdir(path) else [path]
    return found


def collect(paths: tuple[str, ...]) -> tuple[dict[str, Path], dict[str, str]]:
    """The regular files (path -> file) and symlinks (path -> target) that
    `paths` and their libraries are made of."""
    files: dict[str, Path] = {}
    links: dict[str, str] = {}
    todo = _expand(paths)
    while todo:
        real = _resolve(todo.pop(), links)
        if real not in files:
            files[real] = Path(real)
            todo += _libraries(real)
    return files, links


def layer(paths: tuple[str, ...]) -> bytes:
    """A layer holding `paths` (programs or directories of this machine) at
    the same places, with everything they load."""
    files, links = collect(paths)
    return images.files_layer(files, links)


def fingerprint(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """What the cache key takes of `paths`: the content of each (a
    directory's whole tree; "absent" where missing: the build says so), read
    without running anything."""
    return [(p, store.tree_hash(Path(p)) if os.path.isdir(p)
             else store.sha256_file(Path(p)) if os.path.exists(p) else "absent") for p in paths]
