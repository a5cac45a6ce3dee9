"""The cluster kubeadm made, as the target and the suites reach it: the
Cluster of every setup, plus what kubeadm told the admin (the join command,
the certificate key) and the control-plane endpoint. The harness's API
client uses admin.conf's credentials, read from the first control plane as
seed 004's admin copies it ("you can copy the admin.conf to your local
machine")."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from harness import artifacts
from harness.setups.parts.kubeadm import commands
from harness.setups.parts.kubernetes.cluster import Cluster
from harness.setups.pki import Pki

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.setups.parts.kubeadm.commands import JoinCommand

CA_FILES = ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key")
#: seed 004: "you can copy the admin.conf to your local machine"
ADMIN_CONF = "/etc/kubernetes/admin.conf"


@dataclass
class KubeadmCluster(Cluster):
    #: what `kubeadm init --upload-certs` printed for control-plane joins
    certificate_key: str = field(default="", repr=False)
    #: host:port of controlPlaneEndpoint
    api_endpoint: str = ""
    #: what `kubeadm token create --print-join-command` printed for the joins
    join_command: JoinCommand | None = field(default=None, repr=False)
    admin_kubeconfig: str = ADMIN_CONF
    #: what kubeadm raises, and the commands an admin runs (for suites)
    KubeadmError = commands.KubeadmError
    print_join_command = staticmethod(commands.print_join_command)
    upload_certs = staticmethod(commands.upload_certs)
    join_control_plane = staticmethod(commands.join_control_plane)
    reset = staticmethod(commands.reset)

    @property
    def kubectl_binary(self) -> str:
        """kubectl as a machine outside the cluster runs it (no wrapper, no kubeconfig)."""
        return str(artifacts.binary("kubectl"))


def admin_credentials(host: Host, admin_conf: str) -> Pki:
    """kubeadm's cluster CA, with admin.conf's client certificate and key as
    the cluster-admin credentials."""
    pki = Pki("kubernetes", existing=tuple(host.get_file(path) for path in CA_FILES))
    user = yaml.safe_load(host.get_file(admin_conf))["users"][0]["user"]
    pki.files["cluster-admin.pem"] = base64.b64decode(user["client-certificate-data"])
    pki.files["cluster-admin-key.pem"] = base64.b64decode(user["client-key-data"])
    return pki
