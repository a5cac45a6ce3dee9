"""Real Kubernetes components and their images, built here and cached.

    from harness import artifacts
    artifacts.binary("kubelet")        # Path of the cached kubelet
    artifacts.image("registry.k8s.io/pause:3.10.1")   # its OCI tarball
    artifacts.cni_dir()                # the directory of CNI plugins

The set used is the one built from the current Go modules (`harness artifacts
build`), else the newest imported one (`harness artifacts import DIR`).
Looking up never builds and never downloads: a missing artifact raises
LookupError saying which command makes it.
"""
from __future__ import annotations

from pathlib import Path

from harness.artifacts import store


def current() -> store.ArtifactSet | None:
    """The set in use, or None."""
    from harness.artifacts import build
    try:
        built = store.open_set(store.root() / f"build-{build.current_key()}")
    except build.BuildError:
        built = None
    if built:
        return built
    imported = [s for s in store.sets() if s.manifest.source == "import"]
    return imported[0] if imported else None


def _require() -> store.ArtifactSet:
    found = current()
    if not found:
        raise LookupError(f"no artifacts in {store.root()}: run `harness artifacts build` "
                          "(or `harness artifacts import DIR`)")
    return found


def binary(name: str) -> Path:
    path = _require().binary(name)
    if not path:
        raise LookupError(f"no {name} among the artifacts in {_require().directory}")
    return path


def image(ref: str) -> Path:
    path = _require().image(ref)
    if not path:
        raise LookupError(f"no image {ref} among the artifacts in {_require().directory}")
    return path


def image_split(archive: Path) -> tuple[Path, Path] | None:
    """(thin archive, its large blobs) of `archive` in the set in use (None: not split)."""
    return _require().split(archive)


def available_images(refs) -> list[str]:
    """Those of `refs` the set in use has (an imported set may lack the e2e images)."""
    found = _require()
    return [ref for ref in refs if found.image(ref)]


def cni_dir() -> Path:
    return _require().directory / "cni"
