"""The artifact cache: one directory per set of artifacts, made atomically.

    $HARNESS_ARTIFACTS (default /var/cache/harness/artifacts)/
        build-<key>/  manifest.json  bin/*  images/*.tar   (from `artifacts build`)
        import-<key>/ manifest.json  bin/*  images/*.tar   (from `artifacts import`)

A build's key is a hash of everything the binaries are made from: every file
of our Go modules (go.mod, go.sum, our main.go, stubs), the build flags and the
Go toolchain version (read from GOROOT/VERSION, so computing the key runs no
process). A set is written into a temporary directory next to its final place
and renamed there once complete, with manifest.json written last: a cut-short
build leaves a `.tmp-*` directory that is removed and redone, never a
directory that looks usable.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

DEFAULT_ROOT = "/var/cache/harness/artifacts"
MANIFEST = "manifest.json"


def root() -> Path:
    return Path(os.environ.get("HARNESS_ARTIFACTS", DEFAULT_ROOT))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Artifact:
    name: str       #: binary name or image reference
    kind: str       #: "binary", "test-binary" (e2e.test) or "image"
    version: str
    path: str       #: relative to the set's directory
    sha256: str
    size: int


@dataclass
class Manifest:
    key: str
    source: str                 #: "build" or "import"
    created: float
    versions: dict[str, str]    #: component -> version, for people
    artifacts: list[Artifact]
    go: str = ""

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text())
        data["artifacts"] = [Artifact(**a) for a in data["artifacts"]]
        return cls(**data)

    def dump(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


#: beside the image archives: each archive's thin copy and its large blobs
BLOBS_DIR = "blobs"


@dataclass(frozen=True)
class ArtifactSet:
    """A complete set in the cache."""
    directory: Path
    manifest: Manifest

    def binary(self, name: str) -> Path | None:
        """A program: a binary, or a test binary (e2e.test)."""
        for a in self.manifest.artifacts:
            if a.kind in ("binary", "test-binary") and a.name == name:
                return self.directory / a.path
        return None

    def image(self, ref: str) -> Path | None:
        for a in self.manifest.artifacts:
            if a.kind == "image" and a.name == ref:
                return self.directory / a.path
        return None

    def split(self, archive: Path) -> tuple[Path, Path] | None:
        """(thin archive, directory of its large blobs) of an image archive, as
        the build split it (images.split_archive); None for a set without
        them (an imported one)."""
        thin = archive.parent / BLOBS_DIR / archive.name
        blobs = archive.parent / BLOBS_DIR / archive.stem
        return (thin, blobs) if thin.is_file() and blobs.is_dir() else None


def open_set(directory: Path) -> ArtifactSet | None:
    try:
        return ArtifactSet(directory, Manifest.load(directory / MANIFEST))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def sets(base: Path | None = None) -> list[ArtifactSet]:
    """Every complete set, newest first."""
    base = base or root()
    if not base.is_dir():
        return []
    found = [s for d in base.iterdir() if not d.name.startswith(".") and (s := open_set(d))]
    return sorted(found, key=lambda s: s.manifest.created, reverse=True)


@contextmanager
def publishing(name: str, base: Path | None = None) -> Iterator[Path]:
    """A temporary directory that becomes `base/name` when the block ends
    without error (the caller writes manifest.json last); removed otherwise.
    Left-over temporaries of cut-short runs are removed first."""
    base = base or root()
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(f".tmp-{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=base))
    try:
        yield tmp
        if not (tmp / MANIFEST).exists():
            raise RuntimeError(f"internal: {name} published without {MANIFEST}")
        final = base / name
        if final.exists():  # an older copy of the same key (e.g. a forced rebuild)
            old = base / f".tmp-{name}-old-{time.monotonic_ns()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def tree_hash(directory: Path) -> str:
    """A hash of every file's relative path and content under `directory`."""
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(directory)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()
