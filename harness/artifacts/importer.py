"""`harness artifacts import DIR`: official release binaries and image
tarballs, for sites that have them and cannot build (air-gapped).

DIR holds binaries under their release names (kube-apiserver, kubelet, ...,
etcd, coredns, flanneld, CNI plugins) and image tarballs (`*.tar`: `ctr
export`, `docker save` or an OCI layout). Everything is checked before anything
is written: an unknown file, a missing needed binary, a binary that is not a
Linux executable or a tar that is no image archive is refused with one error
naming them all, and the cache is left as it was.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

from harness.artifacts import images, store

#: what a Kubernetes setup cannot do without
REQUIRED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
            "kube-proxy", "kubectl", "etcd")
#: everything else a release directory may hold: file name -> directory in the set
OPTIONAL = {"kubeadm": "bin", "etcdctl": "bin", "coredns": "bin", "flanneld": "bin",
            "agnhost": "bin", "pause": "bin", "e2e.test": "bin", "ginkgo": "bin",
            **{n: "cni" for n in ("bridge", "host-local", "loopback", "portmap", "flannel")}}
KNOWN = {**{n: "bin" for n in REQUIRED}, **OPTIONAL}
#: how to make each kind of binary print its version
VERSION_ARGS = {"kubectl": ("version", "--client"), "coredns": ("-version",),
                "etcdctl": ("version",)}
CNI = {n for n, d in KNOWN.items() if d == "cni"}


class ImportRefused(ValueError):
    """Bad import directory (the message says every problem found)."""


def _version(path: Path, name: str) -> str:
    if name in CNI:  # a CNI plugin answers only to CNI_COMMAND=VERSION
        env, args = {"CNI_COMMAND": "VERSION"}, ()
    else:
        env, args = {}, VERSION_ARGS.get(name, ("--version",))
    try:
        out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=20,
                             env={"PATH": "/usr/bin:/bin", **env})
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    found = re.search(r"v?\d+\.\d+\.\d+[\w.+-]*", out.stdout + out.stderr)
    return found.group(0) if found else "unknown"


def check(directory: Path) -> tuple[dict[str, Path], dict[Path, list[str]]]:
    """Binaries by name and image tarballs with their names, or ImportRefused."""
    if not directory.is_dir():
        raise ImportRefused(f"{directory}: no such directory")
    problems, binaries, tarballs = [], {}, {}
    for path in sorted(directory.iterdir()):
        if path.suffix == ".tar" and path.is_file():
            try:
                tarballs[path] = images.image_names(path)
            except ValueError as exc:
                problems.append(str(exc))
        elif path.name in KNOWN and path.is_file():
            with path.open("rb") as f:
                if f.read(4) != b"\x7fELF":
                    problems.append(f"{path.name}: not a Linux executable (no ELF header)")
                    continue
            binaries[path.name] = path
        else:
            problems.append(f"{path.name}: unknown file (expected release binaries "
                            f"{', '.join(sorted(KNOWN))} or image tarballs *.tar)")
    missing = [n for n in REQUIRED if n not in binaries]
    if missing:
        problems.append(f"missing needed binaries: {', '.join(missing)}")
    if problems:
        raise ImportRefused(f"{directory}: nothing imported:\n  " + "\n  ".join(problems))
    return binaries, tarballs


def import_dir(directory: Path) -> tuple[store.ArtifactSet, bool]:
    """Copy a checked release directory into the cache as one set; returns it
    and whether it is new (the same files imported twice are one set)."""
    binaries, tarballs = check(directory)
    digests = {p: store.sha256_file(p) for p in [*binaries.values(), *tarballs]}
    key = hashlib.sha256("".join(f"{p.name}:{d}\n" for p, d in sorted(
        digests.items())).encode()).hexdigest()[:16]
    name = f"import-{key}"
    base = store.root()
    if existing := store.open_set(base / name):
        return existing, False
    with store.publishing(name, base) as tmp:
        artifacts = []
        for bname, src in binaries.items():
            rel = f"{KNOWN[bname]}/{bname}"
            (tmp / KNOWN[bname]).mkdir(exist_ok=True)
            shutil.copy2(src, tmp / rel)
            (tmp / rel).chmod(0o755)
            artifacts.append(store.Artifact(bname, "binary", _version(tmp / rel, bname), rel,
                                            digests[src], src.stat().st_size))
        (tmp / "images").mkdir()
        for src, refs in tarballs.items():
            shutil.copy2(src, tmp / "images" / src.name)
            artifacts += [store.Artifact(ref, "image", ref.rsplit(":", 1)[-1],
                                         f"images/{src.name}", digests[src], src.stat().st_size)
                          for ref in refs]
        versions = {a.name: a.version for a in artifacts if a.kind == "binary"}
        manifest = store.Manifest(key=key, source="import", created=time.time(),
                                  versions=versions, artifacts=artifacts)
        (tmp / store.MANIFEST).write_text(manifest.dump())
    return store.open_set(base / name), True
