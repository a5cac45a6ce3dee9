"""`kubernetes-make-kubeconfig` on the master (seed 000): prints a kubeconfig
with a client certificate valid 365 days and a service-account token, both
cluster-admin. The script is a template beside this module; it signs with
cfssl and the cluster CA, as easyCerts would."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.lab.host import HOST_BIN_DIR
from harness.lab import templates
from harness.setups.parts.kubernetes.layout import ADMIN_KUBECONFIG, PART_DIR, PKI_DIR
from harness.setups.parts.kubernetes.pki import SIGNING

if TYPE_CHECKING:
    from harness.lab.host import Host


COMMAND = "kubernetes-make-kubeconfig"


def install(master: Host, server: str) -> None:
    master.put_file(f"{HOST_BIN_DIR}/{COMMAND}", templates.render(
        PART_DIR, "kubernetes-make-kubeconfig.sh.j2", signing=json.dumps(SIGNING), pki=PKI_DIR,
        admin=ADMIN_KUBECONFIG, server=server), mode=0o755)
