"""One-binary OCI images, written without a registry or an image builder.

The output is an OCI image-layout tarball (oci-layout, index.json, blobs/):
one uncompressed layer holding the binary, a config with Entrypoint/Cmd and a
manifest. The index entry carries the full image name as
`io.containerd.image.name` (and the tag as `org.opencontainers.image.ref.name`,
as `docker save` writes them), so `ctr -n k8s.io images import FILE` registers
the image under exactly the name kubelet and the manifests ask for, and with
`imagePullPolicy: IfNotPresent` nothing is ever pulled.

Everything is deterministic (fixed mtimes, owners, order), so the same binary
gives the same image digest.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(data: bytes | Path, media_type: str) -> dict:
    if isinstance(data, Path):
        from harness.artifacts.store import sha256_file
        digest, size = sha256_file(data), data.stat().st_size
    else:
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": size}


def files_layer(files: dict[str, Path | bytes | None], links: dict[str, str] | None = None) -> bytes:
    """A layer of `files` (path in the image -> a file whose content it gets,
    mode 0755 if that file is executable, its setuid/setgid bits kept; bytes, mode 0644; None: a
    directory) and symlinks (path -> target); parent directories and /tmp
    are made; everything root-owned."""
    entries: dict[str, tarfile.TarInfo] = {}

    def add_dirs(path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            entries.setdefault(d, _dir(d))

    for path in [*files, *(links or {}), "tmp"]:
        add_dirs(path.strip("/"))
    entries["tmp"] = _dir("tmp", 0o1777)
    contents: dict[str, Path | bytes] = {}
    for path, source in files.items():
        name = path.strip("/")
        if source is None:
            entries[name] = _dir(name)
            continue
        info = tarfile.TarInfo(name)
        if isinstance(source, Path):
            st = source.stat()
            info.size, info.mode = st.st_size, 0o755 | st.st_mode & 0o6000 if st.st_mode & 0o111 else 0o644
        else:
            info.size, info.mode = len(source), 0o644
        entries[name], contents[name] = info, source
    for path, target in (links or {}).items():
        info = tarfile.TarInfo(path.strip("/"))
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        entries[info.name] = info
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            source = contents.get(name)
            if isinstance(source, Path):
                with source.open("rb") as f:
                    tar.addfile(entries[name], f)
            else:
                tar.addfile(entries[name], io.BytesIO(source) if source is not None else None)
    return buf.getvalue()


def _dir(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info


def layer_tar(binary: Path, path_in_image: str, links: tuple[str, ...] = ()) -> bytes:
    """A layer with the binary at `path_in_image`, root-owned, mode 0755, plus
    /tmp, and each of `links` a symlink to it in its directory (a multi-call
    binary's applets)."""
    directory, name = path_in_image.rstrip("/").rsplit("/", 1)
    return files_layer({path_in_image: binary}, {f"{directory}/{link}": name for link in links})


@dataclass(frozen=True)
class ImageSpec:
    """One image of an archive: the names it registers, its layers (bottom
    first; a file or the layer's bytes) and its configuration."""
    names: tuple[str, ...]
    layers: tuple[Path | bytes, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    history: str = ""


def write_archive(out: Path, images: list[ImageSpec]) -> dict[str, str]:
    """Write the images as one OCI layout tarball at `out` (a layer that
    several images share is stored once); returns name -> manifest digest."""
    blobs: dict[str, Path | bytes] = {}
    manifests, digests = [], {}
    for image in images:
        for name in image.names:
            if ":" not in name.rsplit("/", 1)[-1]:
                raise ValueError(f"image name {name!r} has no tag")
        layer_descs = [_descriptor(layer, LAYER) for layer in image.layers]
        blobs.update({d["digest"]: layer for d, layer in zip(layer_descs, image.layers)})
        config = _json({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": list(image.entrypoint) or None, "Cmd": list(image.cmd) or None,
                       "Env": [PATH_ENV], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descs]},
            "history": [{"created_by": image.history or f"harness: {image.names[0]}"}],
        })
        config_desc = _descriptor(config, CONFIG)
        manifest = _json({"schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc,
                          "layers": layer_descs})
        manifest_desc = _descriptor(manifest, MANIFEST)
        blobs.update({config_desc["digest"]: config, manifest_desc["digest"]: manifest})
        for name in image.names:
            manifests.append({**manifest_desc, "platform": {"architecture": "amd64", "os": "linux"},
                              "annotations": {"io.containerd.image.name": name,
                                              "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}})
            digests[name] = manifest_desc["digest"]
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_dir(d))
        members = [("oci-layout", _json({"imageLayoutVersion": "1.0.0"})), ("index.json", _json(index))]
        members += [(f"blobs/sha256/{d.split(':', 1)[1]}", data) for d, data in blobs.items()]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if isinstance(data, Path):
                info.size = data.stat().st_size
                with data.open("rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return digests


def write_image(out: Path, ref: str, binary: Path, entrypoint: tuple[str, ...],
                cmd: tuple[str, ...] = (), links: tuple[str, ...] = ()) -> str:
    """Write the one-binary image `ref` (registry/repo:tag) as an OCI layout
    tarball at `out`, `links` beside the binary; returns the manifest digest."""
    if ":" not in ref.rsplit("/", 1)[-1]:
        raise ValueError(f"image name {ref!r} has no tag")
    return write_archive(out, [ImageSpec((ref,), (layer_tar(binary, entrypoint[0], links),), entrypoint, cmd,
                                         f"harness: {binary.name} at {entrypoint[0]}")])[ref]


def image_names(tarball: Path) -> list[str]:
    """The names an image tarball registers: from an OCI layout's index.json
    (containerd's or our annotation) or `docker save`'s manifest.json RepoTags.
    Raises ValueError for a tar that is neither."""
    try:
        with tarfile.open(tarball) as tar:
            members = {m.name.lstrip("./"): m for m in tar.getmembers()}
            if "index.json" in members:
                index = json.load(tar.extractfile(members["index.json"]))
                names = [m.get("annotations", {}).get("io.containerd.image.name")
                         or m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                         for m in index.get("manifests", [])]
                if "manifest.json" in members:  # docker save >= 25 writes both
                    names += [t for e in json.load(tar.extractfile(members["manifest.json"]))
                              for t in e.get("RepoTags") or []]
            elif "manifest.json" in members:
                names = [t for e in json.load(tar.extractfile(members["manifest.json"]))
                         for t in e.get("RepoTags") or []]
            else:
                raise ValueError(f"{tarball.name}: neither an OCI layout nor a docker save archive")
    except (tarfile.TarError, json.JSONDecodeError, OSError) as exc:
        raise ValueError(f"{tarball.name}: not a readable image tarball ({exc})") from exc
    names = sorted({n for n in names if n})
    if not names:
        raise ValueError(f"{tarball.name}: an image archive without any image name")
    return names


#: blobs above this size stay out of an archive's thin copy (layers; a
#: manifest or config is a few hundred bytes)
THIN_LIMIT = 1 << 20


def split_archive(archive: Path, blobs: Path, thin: Path) -> int:
    """The large blobs of an OCI layout tarball as files in `blobs`, named by
    their sha256 (as a containerd content store keeps them), and `thin`: the
    same tarball without them. A node's containerd is given those files and
    imports the thin tarball, so no layer is copied or streamed at an import
    (harness.setups.parts.kubernetes.kubelet.import_images). Returns how
    many blobs were split off."""
    blobs.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(archive) as tar, tarfile.open(thin, "w") as out:
        for member in tar:
            digest = member.name.lstrip("./").removeprefix("blobs/sha256/")
            if member.isfile() and member.size > THIN_LIMIT and len(digest) == 64 \
                    and all(c in "0123456789abcdef" for c in digest):
                with tar.extractfile(member) as src, open(blobs / digest, "wb") as dest:
                    while chunk := src.read(1 << 20):
                        dest.write(chunk)
                (blobs / digest).chmod(0o444)
                count += 1
            else:
                out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    return count
