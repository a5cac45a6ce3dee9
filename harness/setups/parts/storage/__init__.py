"""NFS persistent volumes (seed 001, the `k3s-nfs` role): nfs-ganesha on the
nfs host, claims as nfs-subdir-external-provisioner makes them
(nfs.py). Provides `target.storage` and `target.claim(name, namespace)`.

Topology options: `nfs_reclaim_policy` (Delete, the StorageClass default, or
Retain) and `nfs_archive_on_delete` (true, the chart's default).
"""
from __future__ import annotations

from harness.setups.parts import declares

from harness.setups.parts.storage import nfs
from harness.model.setups import KUBERNETES_ROLES



@declares(provides=("storage", "claim"), only_with_role="nfs")
def apply(lab, target) -> None:
    host = lab.with_role("nfs")[0]  # seed 001: persistent volume storage on NFS is optional
    options = lab.topology.options
    storage = nfs.NfsStorage(host, host.address(), options.get("nfs_reclaim_policy", "Delete"),
                             bool(options.get("nfs_archive_on_delete", True)))
    # pods reach the server masqueraded behind their node's address
    clients = [h.address() for h in lab.hosts.values() if set(h.roles) & KUBERNETES_ROLES]
    host.put_file(nfs.CONFIG_PATH, nfs.ganesha_config(clients))
    host.succeed(f"mkdir -p {nfs.EXPORT_DIR} /run/ganesha /var/lib/nfs/ganesha")
    service = host.service("ganesha").define(nfs.ganesha_command())
    service.wait_for_state("RUNNING", timeout=30)
    host.wait_for_port(2049, timeout=60)
    target.provide("storage", storage, "nfs")
    target.provide("claim", storage.claim)
