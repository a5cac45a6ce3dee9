"""`harness artifacts build`: compile the pinned components and make the images.

Every binary is built from our own Go modules under `go/` with the module
proxy as the only source, at install/build time; nothing is fetched when a lab
runs. Every binary is static (`CGO_ENABLED=0`, or cgo with `-extldflags=-static`
for flanneld), so the same file runs on the machine, in a netns host, in a
docker host and in a one-file image.

The container runtime is not built: Debian's containerd 1.6.20 and runc
(harness/install.sh) run the images. Building containerd would add build
time for no gain, and the Debian one was measured to work in a netns lab host.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from harness.artifacts import e2e_images, host_tools, images, spec, store
from harness.lab.progress import Steps

#: the environment of every `go build` (CGO_ENABLED is per build); part of the cache key
BUILD_ENV = {"GOTOOLCHAIN": "local"}
#: -mod=readonly: a build never edits go.mod/go.sum; -modcacherw: the module
#: cache can be deleted without chmod
GOFLAGS = "-buildvcs=false -mod=readonly -modcacherw"
BUILD_ARGS = ("-trimpath",)
#: bump when the image layout written by images.py changes
IMAGE_FORMAT = 2


class BuildError(RuntimeError):
    pass


def go_binary() -> Path:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if not found:
        raise BuildError("no Go toolchain: install Go (>= 1.24) so `go` is on PATH")
    return Path(found)


def go_version(go: Path) -> str:
    """The toolchain version from GOROOT/VERSION, without running go."""
    try:
        return (go.resolve().parent.parent / "VERSION").read_text().split()[0]
    except OSError:
        return "unknown"


def build_key(go_version: str) -> str:
    """A hash of all a build is made from: our Go modules' files, flags, toolchain."""
    recipe = {
        "go_tree": store.tree_hash(spec.GO_DIR), "go": go_version, "env": BUILD_ENV,
        "goflags": GOFLAGS, "args": BUILD_ARGS, "image_format": IMAGE_FORMAT, "image_split": (store.BLOBS_DIR, images.THIN_LIMIT),
        "builds": [(b.name, b.module_dir, b.package, b.directory, b.applets, b.cgo, b.test,
                    b.ldflags()) for b in spec.GO_BUILDS],
        "images": [(i.ref, i.binary, i.entrypoint, i.cmd) for i in spec.IMAGES],
        "e2e_images": e2e_images.recipe(),
        "component_images": [(i.ref, i.binary, i.file, i.entrypoint, host_tools.fingerprint(i.tools))
                             for i in spec.COMPONENT_IMAGES],
        # the binary's bytes stand for its version and applets (nothing is run to key a build)
        "package_images": [(i.repository, i.package, i.path, store.sha256_file(Path(i.path)))
                           for i in spec.PACKAGE_IMAGES],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def current_key() -> str:
    return build_key(go_version(go_binary()))


@contextmanager
def _locked(base: Path) -> Iterator[None]:
    """One build at a time per cache (xdist workers share it)."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _go_env(cgo: bool = False) -> dict[str, str]:
    return {**os.environ, **BUILD_ENV, "CGO_ENABLED": "1" if cgo else "0",
            "GOFLAGS": " ".join(filter(None, [GOFLAGS, os.environ.get("GOFLAGS", "")]))}


def go_build(go: Path, build: spec.GoBuild, out: Path) -> None:
    verb = ["test", "-c"] if build.test else ["build"]
    cmd = [str(go), *verb, *BUILD_ARGS, "-ldflags", build.ldflags(), "-o", str(out), build.package]
    result = subprocess.run(cmd, cwd=spec.GO_DIR / build.module_dir, env=_go_env(build.cgo),
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
        raise BuildError(f"go {' '.join(verb)} of {build.name} ({build.package} in "
                         f"go/{build.module_dir}) failed:\n{tail}")


def module_dir(go: Path, module_dir: str, module: str) -> Path:
    """Where the module cache holds `module` as our module `module_dir` requires it."""
    result = subprocess.run([str(go), "list", "-m", "-f", "{{.Dir}}", module],
                            cwd=spec.GO_DIR / module_dir, env=_go_env(), capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        raise BuildError(f"go list -m {module} in go/{module_dir} failed: {result.stderr.strip()}")
    return Path(result.stdout.strip())


def _artifact(directory: Path, rel: str, name: str, kind: str, version: str) -> store.Artifact:
    path = directory / rel
    return store.Artifact(name=name, kind=kind, version=version, path=rel,
                          sha256=store.sha256_file(path), size=path.stat().st_size)


def _go_build_into(go: Path, b: spec.GoBuild, tmp: Path, steps: Steps) -> list[store.Artifact]:
    """One Go build into the set's directory: its binary and its applets' links."""
    rel = f"{b.directory}/{b.name}"
    (tmp / b.directory).mkdir(exist_ok=True)
    verb = "go test -c" if b.test else "go build"
    with steps.step(f"{verb} {b.name} {b.version} ({b.package} in go/{b.module_dir})"):
        go_build(go, b, tmp / rel)
    made = [_artifact(tmp, rel, b.name, b.kind, b.version)]
    for applet in b.applets:
        (tmp / b.directory / applet).symlink_to(b.name)
        made.append(_artifact(tmp, f"{b.directory}/{applet}", applet, "binary",
                              spec.binary_version(applet)))
    return made


def _go_builds(go: Path, tmp: Path, steps: Steps) -> list[store.Artifact]:
    """Every Go build, one after another, in spec order: each `go build` keeps
    both cores busy itself (cold, the same day: 15.7 min so, 16.3 min with our
    kubernetes module's builds and the others' in two lanes at once)."""
    return [a for b in spec.GO_BUILDS for a in _go_build_into(go, b, tmp, steps)]


def build(steps: Steps | None = None, force: bool = False) -> tuple[store.ArtifactSet, bool]:
    """Make the artifact set of the current key unless present; returns it and
    whether it was built now."""
    steps = steps or Steps()
    go = go_binary()
    version = go_version(go)
    key = build_key(version)
    name = f"build-{key}"
    base = store.root()
    if not force and (done := store.open_set(base / name)):
        return done, False
    with _locked(base):
        if not force and (done := store.open_set(base / name)):
            return done, False  # another process built it while we waited
        # the e2e images' Debian root needs no Go build: debootstrap runs beside them
        with store.publishing(name, base) as tmp, ThreadPoolExecutor(max_workers=1) as beside:
            e2e_root = beside.submit(e2e_images.make_root, tmp, steps)
            artifacts = _go_builds(go, tmp, steps)
            (tmp / "images").mkdir()
            for image in spec.IMAGES:
                with steps.step(f"image {image.ref}"):
                    b = spec.BINARIES[image.binary]
                    images.write_image(tmp / "images" / image.file, image.ref,
                                       tmp / b.directory / b.name, image.entrypoint, image.cmd)
                artifacts.append(_artifact(tmp, f"images/{image.file}", image.ref, "image",
                                           b.version))
            artifacts += _component_images(tmp, steps)
            agnhost = tmp / spec.BINARIES["agnhost"].directory / "agnhost"
            archive = f"images/{spec.E2E_ARCHIVE}"
            try:
                e2e_images.build(tmp / archive, e2e_root.result(), agnhost,
                                 tmp / spec.BINARIES["nnp"].directory / "nnp",
                                 module_dir(go, "kubernetes", "k8s.io/kubernetes"), steps)
            except (e2e_images.E2eImageError, LookupError) as exc:
                raise BuildError(f"the e2e images: {exc}") from None
            whole = _artifact(tmp, archive, spec.E2E_ARCHIVE, "image", "")
            artifacts += [dataclasses.replace(whole, name=ref, version=ref.rsplit(":", 1)[1])
                          for ref in spec.E2E_REFS]
            for image in spec.PACKAGE_IMAGES:
                with steps.step(f"image {image.ref} (Debian {image.package})"):
                    images.write_image(tmp / "images" / image.file, image.ref, Path(image.path),
                                       (image.path,), links=image.applets())
                artifacts.append(_artifact(tmp, f"images/{image.file}", image.ref, "image",
                                           image.version))
            archives = sorted((tmp / "images").glob("*.tar"))
            with steps.step(f"the {len(archives)} image archives split: thin copies, their layers as files"):
                for tarball in archives:
                    split = tmp / "images" / store.BLOBS_DIR
                    images.split_archive(tarball, split / tarball.stem, split / tarball.name)
            manifest = store.Manifest(key=key, source="build", created=time.time(), go=version,
                                      versions=versions(), artifacts=artifacts)
            (tmp / store.MANIFEST).write_text(manifest.dump())
    return store.open_set(base / name), True


def _component_images(tmp: Path, steps: Steps) -> list[store.Artifact]:
    """Write spec.COMPONENT_IMAGES into images/, one archive per build (the
    five images of the multi-call binary share its ~160 MB layer), from the
    binaries already in `tmp`."""
    by_file: dict[str, list[spec.ComponentImage]] = {}
    for image in spec.COMPONENT_IMAGES:
        by_file.setdefault(image.file, []).append(image)
    artifacts = []
    for file, group in by_file.items():
        b = group[0].build
        with steps.step(f"images {', '.join(i.ref for i in group)} into {file}"):
            binary = images.layer_tar(tmp / b.directory / b.name, f"/usr/local/bin/{b.name}", b.applets)
            specs = [images.ImageSpec((i.ref,), (binary, *_tools_layer(i)), i.entrypoint,
                                      history=f"harness: {b.name} run as {i.binary}") for i in group]
            images.write_archive(tmp / "images" / file, specs)
        whole = _artifact(tmp, f"images/{file}", file, "image", "")
        artifacts += [dataclasses.replace(whole, name=i.ref, version=i.version) for i in group]
    return artifacts


def _tools_layer(image: spec.ComponentImage) -> tuple[bytes, ...]:
    """The layer of the image's tools, if it has any."""
    if not image.tools:
        return ()
    try:
        return (host_tools.layer(image.tools),)
    except host_tools.HostToolsError as exc:
        raise BuildError(f"the tools of {image.ref}: {exc}") from None


def versions() -> dict[str, str]:
    """Component -> version, as pinned by our modules."""
    shown = {"kubernetes": "kubernetes", "e2e.test": "e2e.test", "ginkgo": "ginkgo", "etcd": "etcd",
             "etcdctl": "etcdctl", "kube-router": "kube-router",
             "agnhost": "agnhost",
             "pause": "pause",
             "coredns (1.8 line)": "coredns-1.8", "coredns (current)": "coredns-1.12",
             "flannel": "flanneld", "CNI plugins": "bridge", "flannel CNI plugin": "flannel",
             "kine": "kine", "local-path-provisioner": "local-path-provisioner"}
    return {**{label: spec.binary_version(name) for label, name in shown.items()},
            **{f"{i.binary} (Debian {i.package})": i.version for i in spec.PACKAGE_IMAGES}}
