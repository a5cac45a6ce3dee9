"""Seed 001's token joins ("agents join with the server's token") on upstream
components: a Kubernetes bootstrap token and kubelet TLS bootstrapping.

The server holds the token (root-only, where k3s keeps its node token); a
bootstrap-token Secret in kube-system makes the apiserver accept it
(`--enable-bootstrap-token-auth`) as a member of `system:bootstrappers`.
RBAC lets that group create CSRs (`system:node-bootstrapper`) and have its
node-client CSRs approved by the controller-manager's approver
(`...:certificatesigningrequests:nodeclient`); nodes renew their own
(`selfnodeclient`). A kubelet given only the token in its
`--bootstrap-kubeconfig` then gets its client certificate signed by the
controller-manager and writes its own kubeconfig. Its serving certificate
(`serverTLSBootstrap`) is a kubelet-serving CSR, which no controller
approves: the server approves it for the node that asked, as k3s's server
signs its agents' serving certificates.
"""
from __future__ import annotations

import secrets
import shlex
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from kubernetes import client

from harness.lab.wait import wait_until
from harness.setups.parts.kubernetes import kubeconfig

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.setups.parts.kubernetes.cluster import Cluster

#: where k3s keeps the token agents join with, on the server
TOKEN_FILE = "/var/lib/rancher/k3s/server/node-token"
BOOTSTRAP_KUBECONFIG = "/etc/kubernetes/bootstrap-kubelet.kubeconfig"
#: bootstrap tokens are [a-z0-9]{6}.[a-z0-9]{16}
_ALPHABET = string.ascii_lowercase + string.digits
GROUP = "system:bootstrappers"
SERVING_SIGNER = "kubernetes.io/kubelet-serving"
TTL = timedelta(hours=24)


def _binding(name: str, role: str, group: str) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}]}


#: kubeadm's bindings for TLS bootstrapping (the roles are the apiserver's defaults)
RBAC = [
    _binding("kubelet-bootstrap", "system:node-bootstrapper", GROUP),
    _binding("node-autoapprove-bootstrap",
             "system:certificates.k8s.io:certificatesigningrequests:nodeclient", GROUP),
    _binding("node-autoapprove-certificate-rotation",
             "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
]


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class BootstrapToken:
    id: str = field(default_factory=lambda: _random(6))
    secret: str = field(default_factory=lambda: _random(16), repr=False)

    @property
    def value(self) -> str:
        return f"{self.id}.{self.secret}"

    def secret_manifest(self, expires: datetime) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
                "metadata": {"name": f"bootstrap-token-{self.id}", "namespace": "kube-system"},
                "stringData": {"token-id": self.id, "token-secret": self.secret,
                               "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "usage-bootstrap-authentication": "true",
                               "usage-bootstrap-signing": "true",
                               "description": "seed 001: the token agents join with"}}


def create(cluster: Cluster) -> BootstrapToken:
    """The server's token, accepted by the apiserver: a new one, or the one
    the server already keeps (a lab attached again: its nodes joined with it)."""
    server = cluster.admin_host
    if server.run(shlex.join(["test", "-s", TOKEN_FILE])).ok:
        token = BootstrapToken(*token_on_server(cluster).split("."))
    else:
        token = BootstrapToken()
        server.succeed(shlex.join(["install", "-d", "-m", "0700", TOKEN_FILE.rsplit("/", 1)[0]]))
        server.put_file(TOKEN_FILE, token.value + "\n", mode=0o600)
    cluster.apply([token.secret_manifest(datetime.now(timezone.utc) + TTL), *RBAC])
    return token


def token_on_server(cluster: Cluster) -> str:
    """The token as the admin reads it on the server (what an agent is given)."""
    return cluster.admin_host.get_file(TOKEN_FILE).decode().strip()


def bootstrap_kubeconfig(host: Host, cluster: Cluster, token: str) -> None:
    """The only credential a joining kubelet has: the token."""
    host.put_file(BOOTSTRAP_KUBECONFIG, kubeconfig.render_files_token(
        cluster.server, f"{cluster.pki.directory}/ca.pem", "kubelet-bootstrap", token), mode=0o600)


def approve_serving_certificates(cluster: Cluster, nodes: list[str], timeout: float = 120) -> None:
    """Approve each node's own kubelet-serving CSR (requested by
    system:node:<name>), once every node has asked."""
    api = client.CertificatesV1Api(cluster.api)
    wanted = {f"system:node:{n}" for n in nodes}

    def pending():
        return [c for c in api.list_certificate_signing_request().items
                if c.spec.signer_name == SERVING_SIGNER and c.spec.username in wanted
                and not (c.status and c.status.conditions)]

    def asked():
        asking = {c.spec.username for c in pending()}
        signed = {c.spec.username for c in api.list_certificate_signing_request().items
                  if c.spec.signer_name == SERVING_SIGNER and c.status and c.status.certificate}
        return wanted <= asking | signed

    wait_until(asked, f"kubelet-serving CSRs of {' '.join(nodes)}", timeout=timeout, interval=0.5)
    for csr in pending():
        csr.status = client.V1CertificateSigningRequestStatus(conditions=[
            client.V1CertificateSigningRequestCondition(
                type="Approved", status="True", reason="SeedJoin",
                message=f"approved by the server for the node that asked ({csr.spec.username})")])
        api.replace_certificate_signing_request_approval(csr.metadata.name, csr)
