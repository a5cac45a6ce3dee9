"""A lab's cluster as e2e.test reaches it: a kubeconfig for the harness's
loopback tunnel into the master, in a memory file (the cluster-admin key is
never written to disk) that e2e.test and its kubectl children inherit."""
from __future__ import annotations

from harness.setups.parts.kubernetes import api as k8s_api, kubeconfig

#: the credentials e2e.test uses: the cluster-admin certificate the harness made
CREDENTIALS = ("ca.pem", "cluster-admin.pem", "cluster-admin-key.pem")


def lab_kubeconfig(lab, target) -> tuple[str, int]:
    """(path, fd) of a kubeconfig for the lab's apiserver through the tunnel
    this process holds (opened here if it is not yet); valid until the lab
    is closed in this process."""
    cluster = target.kubernetes
    server = cluster.api.configuration.host  # https://127.0.0.1:<tunnel port>
    pem = {name: cluster.pki.files[name] for name in CREDENTIALS}
    text = kubeconfig.render(server, pem["ca.pem"], "cluster-admin", pem["cluster-admin.pem"],
                             pem["cluster-admin-key.pem"])
    path = k8s_api.memory_file(lab, f"harness-{lab.id}-e2e-kubeconfig", text.encode())
    return path, int(path.rsplit("/", 1)[1])
