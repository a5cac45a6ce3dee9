"""NFS persistent volumes the way seed 001 provides them: an NFS VM serving
one export, and nfs-subdir-external-provisioner giving each claim a
subdirectory of it.

The server is nfs-ganesha (userspace NFSv4 with the VFS FSAL; this kernel has
neither an NFS server nor a client). Clients use the libnfs tools (`nfs-cp`,
`nfs-cat`, `nfs-ls`) with `nfs://server/export/dir/file?version=4` URLs.

nfs-subdir-external-provisioner does not run (no pod can mount NFS here): the
harness makes a claim's directory itself, `${namespace}-${pvcName}-${pvName}`
mode 0777 under the export, and the suite checks only what ganesha does
with it (the bytes pods write and read, the isolation of claims), never the
harness's own naming or deletion.
"""
from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.lab import templates
from harness.lab.net import bracketed
from harness.lab.collectors import Collector, VersionProbe

EXPORT_DIR = "/srv/nfs/k8s"
PSEUDO_PATH = "/k8s"
CONFIG_PATH = "/etc/ganesha/harness.conf"


VERSION_PROBES = [VersionProbe("nfs-ganesha", "ganesha.nfsd", "ganesha.nfsd -v 2>&1")]
COLLECTORS = [Collector("nfs-exports.txt",
                        f"cat {CONFIG_PATH}; echo; ss -tlnH 'sport = :2049'; echo; ls -la {EXPORT_DIR}",
                        "runs ganesha.nfsd")]


def ganesha_config(clients: list[str]) -> str:
    """NFSv4 only, one VFS export, read-write for the cluster's hosts only."""
    return templates.render(Path(__file__).parent, "ganesha.conf.j2", export_dir=EXPORT_DIR,
                            pseudo_path=PSEUDO_PATH, clients=clients)


def ganesha_command() -> str:
    return (f"ganesha.nfsd -F -f {CONFIG_PATH} -L /var/log/ganesha.nfsd.log "
            f"-p /run/ganesha/ganesha.pid -N NIV_EVENT")


@dataclass(frozen=True)
class Claim:
    name: str
    namespace: str
    pv_name: str
    server: str

    @property
    def directory(self) -> str:
        """nfs-subdir-external-provisioner's `${namespace}-${pvcName}-${pvName}`."""
        return f"{self.namespace}-{self.name}-{self.pv_name}"

    @property
    def path(self) -> str:
        """The directory on the NFS host."""
        return f"{EXPORT_DIR}/{self.directory}"

    def url(self, file: str = "") -> str:
        """A libnfs URL for a file in the claim (NFSv4)."""
        return f"nfs://{bracketed(self.server)}{PSEUDO_PATH}/{self.directory}/{file}?version=4"

    def write_command(self, local_file: str, file: str) -> str:
        return f"nfs-cp {shlex.quote(local_file)} {shlex.quote(self.url(file))}"

    def read_command(self, file: str) -> str:
        return f"nfs-cat {shlex.quote(self.url(file))}"

    def list_command(self) -> str:
        return f"nfs-ls {shlex.quote(self.url())}"


class NfsStorage:
    """The claims of one NFS host (`target.storage`; `target.claim` is its
    `claim` method)."""

    def __init__(self, host, server_address: str):
        self.host, self.server = host, server_address

    def claim(self, name: str, namespace: str = "default") -> Claim:
        claim = Claim(name, namespace, f"pvc-{uuid.uuid4()}", self.server)
        self.host.succeed(f"mkdir -m 0777 {shlex.quote(claim.path)} && chmod 0777 {shlex.quote(claim.path)}")
        return claim
