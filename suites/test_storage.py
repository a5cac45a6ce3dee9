"""NFS persistent volumes (seed 001): claims are subdirectories of the nfs
host's export; pods on different agents share a claim's bytes through
ganesha; claims are isolated. The claims' directories (their names, their
deletion) are the harness's own (nfs-subdir-external-provisioner does not
run here), so nothing asserts them. Clients are the libnfs tools, run
in each pod's network namespace: this machine's kernel has no NFS client, so
no pod can mount an NFS volume (a limitation of the machine, not of the
seed); the checks stay at the level of the nfs host and the network."""
from __future__ import annotations

import hashlib
import secrets

import pytest


pytestmark = pytest.mark.requires("nfs")
NAMESPACE = "storage"


@pytest.fixture(scope="module")
def two_pods(lab, target):
    nodes = target.workers[:2]
    pods = []
    try:
        for i, node in enumerate(nodes):
            pods.append(target.workload.pod(node, f"nfs{i}", NAMESPACE))
        yield pods
    finally:
        for pod in pods:
            target.workload.delete_pod(pod)


def write(pod, claim, file: str, data: bytes) -> None:
    local = f"/tmp/{pod.name}-{file}"
    pod.node.put_file(local, data)
    result = pod.run(claim.write_command(local, file), timeout=30)
    assert result.ok, f"write {file} to {claim.directory} from {pod}: {result.summary()}"


def test_pod_on_another_agent_reads_the_same_bytes(target, two_pods):
    writer, reader = two_pods[0], two_pods[-1]
    if writer.node is reader.node:
        pytest.skip("needs two workers")
    claim = target.claim("shared", NAMESPACE)
    # libnfs 4.0's NFSv4 writes fail from 8 KiB up (measured here): stay below
    data = secrets.token_hex(1500).encode()
    write(writer, claim, "blob", data)
    result = reader.run(f"{claim.read_command('blob')} | sha256sum", timeout=30)
    assert result.ok, result.summary()
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest(), (
        f"{reader} read different bytes than {writer} wrote through {claim.directory}")


def test_two_claims_never_see_each_others_files(target, two_pods):
    pod = two_pods[0]
    a, b = target.claim("alpha", NAMESPACE), target.claim("beta", NAMESPACE)
    write(pod, a, "only-in-alpha", b"alpha\n")
    listing = pod.run(b.list_command(), timeout=30)
    assert listing.ok, listing.summary()
    assert "only-in-alpha" not in listing.stdout
    assert not pod.run(b.read_command("only-in-alpha"), timeout=30).ok
    assert pod.run(a.read_command("only-in-alpha"), timeout=30).stdout == "alpha\n"
