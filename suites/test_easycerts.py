"""Seed 002's easyCerts: "a certificate authority (CA) daemon (cfssl) on the
kubernetes master node"; a node joins with `nixos-kubernetes-node-join`,
"Given a token on stdin", and gets its certificates from that CA. Checked
on the node: its certificates are in the secrets directory, signed by the
master's CA; without the token, or with another, it gets nothing."""
from __future__ import annotations

import shlex

import pytest

pytestmark = pytest.mark.requires("easycerts")

SECRETS = "/var/lib/kubernetes/secrets"
CA_DAEMON_CA = "/var/lib/cfssl/ca.pem"


@pytest.fixture(scope="module")
def node(target):
    return target.workers[0]


def checksums(host) -> str:
    return host.succeed(f"cd {SECRETS} && sha256sum -- *")


def test_the_node_holds_certificates_the_masters_ca_daemon_signed(target, node):
    ca = target.kubernetes.admin_host.get_file(CA_DAEMON_CA)
    node.put_file("/tmp/master-ca.pem", ca)
    listed = node.succeed(shlex.join(["ls", SECRETS])).split()
    assert f"kubelet-client-{node.name}.pem" in listed and "ca.pem" in listed, listed
    for cert in (c for c in listed if c.endswith(".pem") and not c.endswith("-key.pem")
                 and c != "ca.pem"):
        node.succeed(shlex.join(["openssl", "verify", "-CAfile", "/tmp/master-ca.pem",
                                 f"{SECRETS}/{cert}"]))
    subject = node.succeed(shlex.join(["openssl", "x509", "-noout", "-subject", "-in",
                                       f"{SECRETS}/kubelet-client-{node.name}.pem"]))
    assert f"CN = system:node:{node.name}" in subject and "O = system:nodes" in subject, subject
    # the key was made on the node and is readable by root only
    mode = node.succeed(shlex.join(["stat", "-c", "%a", f"{SECRETS}/kubelet-client-{node.name}-key.pem"]))
    assert mode.strip() == "600"


@pytest.mark.parametrize("token, refusal", [("", "no token on stdin"),
                                            ("00112233445566778899aabbccddeeff", "invalid token")],
                         ids=["no token", "another token"])
def test_a_join_without_the_token_gets_nothing(node, token, refusal):
    before = checksums(node)
    joined = node.run("nixos-kubernetes-node-join", input=token, timeout=60)
    assert not joined.ok, f"the join succeeded with {token!r}: {joined.stdout}"
    assert refusal in joined.stderr, joined.summary()
    assert checksums(node) == before, "a refused join changed the node's secrets"
