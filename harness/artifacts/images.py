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
from pathlib import Path

LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _blob(data: bytes, media_type: str) -> tuple[dict, bytes]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}, data


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(binary: Path, path_in_image: str, links: tuple[str, ...] = ()) -> bytes:
    """A layer with the binary at `path_in_image`, root-owned, mode 0755, plus
    /tmp, and each of `links` a symlink to it in its directory (a multi-call
    binary's applets)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parts = path_in_image.strip("/").split("/")
        dirs = ["/".join(parts[:i]) for i in range(1, len(parts))] + ["tmp"]
        for d in sorted(set(dirs)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("/".join(parts))
        info.size, info.mode = binary.stat().st_size, 0o755
        with binary.open("rb") as f:
            tar.addfile(info, f)
        for link in links:
            info = tarfile.TarInfo("/".join([*parts[:-1], link]))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, parts[-1], 0o777
            tar.addfile(info)
    return buf.getvalue()


def write_image(out: Path, ref: str, binary: Path, entrypoint: tuple[str, ...],
                cmd: tuple[str, ...] = (), links: tuple[str, ...] = ()) -> str:
    """Write the image `ref` (registry/repo:tag) as an OCI layout tarball at
    `out`, `links` beside the binary; returns the manifest digest."""
    if ":" not in ref.rsplit("/", 1)[-1]:
        raise ValueError(f"image name {ref!r} has no tag")
    layer_desc, layer = _blob(layer_tar(binary, entrypoint[0], links), LAYER)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Cmd": list(cmd), "Env": [PATH_ENV],
                   "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        "history": [{"created_by": f"harness: {binary.name} at {entrypoint[0]}"}],
    }
    config_desc, config_blob = _blob(_json(config), CONFIG)
    manifest_desc, manifest_blob = _blob(_json({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc, "layers": [layer_desc],
    }), MANIFEST)
    manifest_desc["annotations"] = {"io.containerd.image.name": ref,
                                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest_desc]}
    files = [("oci-layout", _json({"imageLayoutVersion": "1.0.0"})), ("index.json", _json(index))]
    files += [(f"blobs/sha256/{d['digest'].split(':', 1)[1]}", data)
              for d, data in ((layer_desc, layer), (config_desc, config_blob),
                              (manifest_desc, manifest_blob))]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return manifest_desc["digest"]


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
