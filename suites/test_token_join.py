"""Seed 001: agents join the server with its token. Here a Kubernetes
bootstrap token: each kubelet had only the token, and got its client
certificate through a CSR the controller-manager approved and signed; a
wrong token gets nothing. Observed from the CSRs the cluster holds, the
certificates on each node and the apiserver's answers to an agent."""
from __future__ import annotations

import json
import shlex

import pytest
import yaml

pytestmark = pytest.mark.requires("token-join", "k8s-api")

BOOTSTRAP_KUBECONFIG = "/etc/kubernetes/bootstrap-kubelet.kubeconfig"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


def given_token(host) -> tuple[str, str]:
    """(token, CA file) of the host's bootstrap kubeconfig: all a joining kubelet has."""
    config = yaml.safe_load(host.get_file(BOOTSTRAP_KUBECONFIG))
    return config["users"][0]["user"]["token"], config["clusters"][0]["cluster"]["certificate-authority"]


def test_every_node_got_its_client_certificate_through_the_token(target):
    csrs = json.loads(target.kubernetes.kubectl("get", "csr", "-o", "json"))["items"]
    token, _ = given_token(target.workers[0])
    issued = [c for c in csrs if c["spec"]["signerName"] == CLIENT_SIGNER
              and c.get("status", {}).get("certificate")
              and any(k["type"] == "Approved" for k in c["status"].get("conditions", []))]
    assert {c["spec"]["username"] for c in issued} == {f"system:bootstrap:{token.split('.')[0]}"}
    assert len(issued) >= len(target.kubelets)
    for host in target.kubelets:
        subject = host.succeed(shlex.join(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253",
                                           "-in", "/var/lib/kubelet/pki/kubelet-client-current.pem"]))
        assert f"CN=system:node:{host.name}" in subject and "O=system:nodes" in subject, subject


@pytest.mark.parametrize("which", ["given", "wrong"])
def test_only_the_given_token_is_accepted(target, which):
    """The bootstrapper may list CSRs, nothing more; a wrong secret is 401."""
    agent = target.workers[-1]
    token, ca = given_token(agent)
    if which == "wrong":
        token = token.split(".")[0] + "." + "0" * 16
    url = f"{target.kubernetes.server}/apis/certificates.k8s.io/v1/certificatesigningrequests"
    code = agent.succeed(shlex.join(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                                     "--cacert", ca, "-H", f"Authorization: Bearer {token}", url]))
    assert code == ("200" if which == "given" else "401")
    secrets = agent.run(shlex.join(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                                    "--cacert", ca, "-H", f"Authorization: Bearer {token}",
                                    f"{target.kubernetes.server}/api/v1/namespaces/kube-system/secrets"]))
    assert secrets.stdout == ("403" if which == "given" else "401")
