"""PersistentVolumeClaims on local-path-provisioner (seed 001: "local"
volumes, as k3s bundles them): a claim binds once a pod uses it, the pod's
writes land in the claim's directory on its node, and a new pod on the same
claim reads them back. Observed through the API and on the node."""
from __future__ import annotations

import secrets
import shlex

import pytest
from kubernetes import client

from harness.lab.wait import wait_until

pytestmark = pytest.mark.requires("persistent-volumes")
NAMESPACE = "volumes"


def run_pod(target, name: str, claim: str, script: str) -> client.V1Pod:
    """A busybox pod with the claim at /data running `script` to the end."""
    cluster = target.kubernetes
    cluster.apply([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "sh", "image": target.local_path.helper_image,
                                             "imagePullPolicy": "Never",
                                             "command": ["/bin/sh", "-c", script],
                                             "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                             "volumes": [{"name": "data",
                                          "persistentVolumeClaim": {"claimName": claim}}]}}])
    core = client.CoreV1Api(cluster.api)

    def finished():
        pod = core.read_namespaced_pod(name, NAMESPACE)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None
    pod = wait_until(finished, f"pod {NAMESPACE}/{name} to run to its end", 120, interval=0.5)
    assert pod.status.phase == "Succeeded", \
        f"{name}: {core.read_namespaced_pod_log(name, NAMESPACE)}"
    return pod


@pytest.fixture(scope="module")
def claim(target):
    name = target.local_path.claim("data", NAMESPACE)
    yield name
    core = client.CoreV1Api(target.kubernetes.api)
    for pod in ("writer", "reader"):
        core.delete_namespaced_pod(pod, NAMESPACE, grace_period_seconds=0)
    core.delete_namespaced_persistent_volume_claim(name, NAMESPACE)


def test_claim_binds_and_survives_its_pod(target, claim):
    assert target.local_path.phase(claim, NAMESPACE) == "Pending", "bound before any pod used it"
    data = secrets.token_hex(16)
    writer = run_pod(target, "writer", claim, f"echo {shlex.quote(data)} > /data/blob")
    assert target.local_path.phase(claim, NAMESPACE) == "Bound"
    core = client.CoreV1Api(target.kubernetes.api)
    pvc = core.read_namespaced_persistent_volume_claim(claim, NAMESPACE)
    volume = core.read_persistent_volume(pvc.spec.volume_name)
    # the bytes are on the writer's node, in the volume's directory
    node = next(h for h in target.kubelets if h.name == writer.spec.node_name)
    path = volume.spec.host_path.path if volume.spec.host_path else volume.spec.local.path
    assert node.get_file(f"{path}/blob").decode().strip() == data
    reader = run_pod(target, "reader", claim, "cat /data/blob")
    assert reader.spec.node_name == writer.spec.node_name, "a local volume moved nodes"
    assert core.read_namespaced_pod_log("reader", NAMESPACE).strip() == data
