"""VM disks on the hypervisor, through libvirt's storage API only.

Every file a VM needs (root image, kernel, initrd, config drive) is uploaded
as a volume into a storage pool of the hypervisor, and each VM's root disk is
a qcow2 overlay volume that the hypervisor makes itself. Nothing assumes that
this machine and the hypervisor share a filesystem, so a remote URI
(`qemu+ssh://...`) works as the local one does.

Shared volumes (`hl-base-...`: root image, kernel, initrd) are named after
their content, uploaded once and reused; an empty `<name>.ready` volume is
made when an upload completes, so an upload cut short is found and redone.
Uploads from this machine are serialised by a lock file; two machines
uploading the same new image to one hypervisor at once is not guarded.
Volumes of a lab are named `hl-<lab>-...` and go with it.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

from harness.lab import templates

POOL = os.environ.get("HARNESS_LIBVIRT_POOL", "harness")
#: where a pool that does not exist yet is made, on the hypervisor
POOL_PATH = os.environ.get("HARNESS_LIBVIRT_DIR", "/var/lib/libvirt/images/harness")
CHUNK = 1 << 20


class Storage:
    def __init__(self, conn, lock_dir: Path):
        import libvirt
        self._libvirt = libvirt
        self.conn = conn
        self.lock_file = lock_dir / "libvirt-upload.lock"
        self._pool = None

    @property
    def pool(self):
        """The harness pool on the hypervisor, defined and started if need be."""
        if self._pool is None:
            libvirt = self._libvirt
            try:
                pool = self.conn.storagePoolLookupByName(POOL)
            except libvirt.libvirtError:
                try:
                    pool = self.conn.storagePoolDefineXML(templates.render(
                        Path(__file__).parent, "pool.xml.j2", name=POOL, path=POOL_PATH))
                    pool.build(0)
                    pool.setAutostart(1)
                except libvirt.libvirtError:  # defined meanwhile by another process
                    pool = self.conn.storagePoolLookupByName(POOL)
            if not pool.isActive():
                try:
                    pool.create(0)
                except libvirt.libvirtError:
                    if not pool.isActive():
                        raise
            self._pool = pool
        return self._pool

    @property
    def path(self) -> str:
        """The pool's directory on the hypervisor."""
        return ElementTree.fromstring(self.pool.XMLDesc(0)).findtext("target/path")

    def names(self, prefix: str = "", refresh: bool = False) -> list[str]:
        if refresh:  # files the hypervisor wrote itself (console logs) become volumes
            self.pool.refresh(0)
        return [n for n in self.pool.listVolumes() if n.startswith(prefix)]

    def volume(self, name: str):
        return self.pool.storageVolLookupByName(name)

    def empty(self, name: str):
        return self.pool.createXML(_volume_xml(name, 0, "raw"), 0)

    def upload(self, local: Path, name: str):
        """A new volume holding the bytes of a local file (whatever their
        format: a qcow2 image is uploaded as its bytes, and its users say
        that it is qcow2)."""
        size = local.stat().st_size
        vol = self.pool.createXML(_volume_xml(name, size, "raw"), 0)
        try:
            stream = self.conn.newStream(0)
            vol.upload(stream, 0, size, 0)
            with open(local, "rb") as src:
                stream.sendAll(lambda _stream, nbytes, f: f.read(min(nbytes, CHUNK)), src)
            stream.finish()
        except BaseException:
            vol.delete(0)
            raise
        return vol

    def shared(self, local: Path, name: str):
        """The volume `name` with the content of a local file, uploaded once."""
        with self._upload_lock():
            present = set(self.names(name))
            if f"{name}.ready" in present:
                return self.volume(name)
            if name in present:  # an upload that was cut short
                self.volume(name).delete(0)
            vol = self.upload(local, name)
            self.empty(f"{name}.ready")
            return vol

    def overlay(self, name: str, base, capacity_bytes: int):
        """A qcow2 volume on top of `base` (made by the hypervisor)."""
        return self.pool.createXML(_volume_xml(name, capacity_bytes, "qcow2", backing=base.path()), 0)

    def download(self, name: str) -> bytes:
        vol = self.volume(name)
        stream = self.conn.newStream(0)
        vol.download(stream, 0, 0, 0)
        chunks: list[bytes] = []
        stream.recvAll(lambda _stream, data, acc: acc.append(data) or len(data), chunks)
        stream.finish()
        return b"".join(chunks)

    def delete(self, prefix: str) -> None:
        for name in self.names(prefix, refresh=True):
            try:
                self.volume(name).delete(0)
            except self._libvirt.libvirtError:
                pass  # gone meanwhile

    @contextmanager
    def _upload_lock(self):
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _volume_xml(name: str, capacity: int, format: str, backing: str | None = None) -> str:
    return templates.render(Path(__file__).parent, "volume.xml.j2", name=name, capacity=capacity,
                            format=format, backing=backing)
