"""`kubernetes-make-kubeconfig` on the master (seed 000): prints a kubeconfig
with a client certificate valid 365 days and a service-account token, both
cluster-admin. The script is a template beside this module; it signs with
cfssl and the cluster CA, as easyCerts would."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.lab.host import HOST_BIN_DIR
from harness.lab import templates
from harness.setups.parts import declares
from harness.setups.parts.kubernetes.layout import ADMIN_KUBECONFIG, PART_DIR
from harness.setups.pki import SIGNING

if TYPE_CHECKING:
    from harness.lab.host import Host


COMMAND = "kubernetes-make-kubeconfig"


def install(master: Host, server: str, pki_dir: str) -> None:
    master.put_file(f"{HOST_BIN_DIR}/{COMMAND}", templates.render(
        PART_DIR, "kubernetes-make-kubeconfig.sh.j2", signing=json.dumps(SIGNING), pki=pki_dir,
        admin=ADMIN_KUBECONFIG, server=server), mode=0o755)


@declares(needs=("kubernetes",), provides=())
def apply(lab, target) -> None:
    """The command on every control plane, for the cluster's API endpoint."""
    cluster = target.kubernetes
    for plane in cluster.control_planes:
        install(plane.host, cluster.server, cluster.pki.directory)
    target.capabilities.add("make-kubeconfig")
