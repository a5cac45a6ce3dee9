"""PersistentVolumeClaims as k3s bundles them: local-path-provisioner (our
build of github.com/rancher/local-path-provisioner) as a Deployment in
`local-path-storage`, the StorageClass `local-path` (the default class,
WaitForFirstConsumer), each volume a directory under k3s's storage path on
the node the claim's first pod runs on. Its helper pods run `/bin/sh
/script/setup` in a busybox image made here from Debian's busybox-static.

`target.local_path.claim(name, namespace)` makes a claim; suites bind it
with a pod and read it back from another.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from harness.lab import templates
from harness.lab.wait import wait_until
from harness.setups.parts import declares
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.kubelet import IMAGES, import_images

PART_DIR = Path(__file__).parent
NAMESPACE = "local-path-storage"
NAME = "local-path-provisioner"
STORAGE_CLASS = "local-path"
PROVISIONER = "rancher.io/local-path"
#: k3s's default storage directory on each node
PATH = "/var/lib/rancher/k3s/storage"
ACCOUNT = f"{NAME}-service-account"
#: what the provisioner may read and change (pods: its helper pods)
RULES = [
    {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["persistentvolumes"],
     "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
]
HELPER_RULES = [{"apiGroups": [""], "resources": ["pods"],
                 "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]


def _bound(kind: str, name: str, role_kind: str, namespace: str | None = None) -> list[dict]:
    """A role of `kind` and its binding to the provisioner's service account."""
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": meta,
         "rules": RULES if role_kind == "ClusterRole" else HELPER_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}]},
    ]


def manifests(image: str, helper_image: str) -> list[dict]:
    meta = {"namespace": NAMESPACE}
    labels = {"app": NAME}
    config = {"config.json": templates.render(PART_DIR, "config.json.j2", path=PATH),
              "setup": templates.render(PART_DIR, "setup.j2"),
              "teardown": templates.render(PART_DIR, "teardown.j2"),
              "helperPod.yaml": templates.render(PART_DIR, "helperPod.yaml.j2", image=helper_image)}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, **meta}},
        *_bound("RoleBinding", f"{NAME}-role", "Role", NAMESPACE),
        *_bound("ClusterRoleBinding", f"{NAME}-role", "ClusterRole"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "local-path-config", **meta},
         "data": config},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, **meta},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": ACCOUNT,
                      "containers": [{
                          "name": NAME, "image": image, "imagePullPolicy": "Never",
                          "command": ["/usr/bin/local-path-provisioner", "--debug", "start",
                                      "--config", "/etc/config/config.json"],
                          "volumeMounts": [{"name": "config", "mountPath": "/etc/config/"}],
                          "env": [{"name": "POD_NAMESPACE",
                                   "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                  {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"}]}],
                      "volumes": [{"name": "config", "configMap": {"name": "local-path-config"}}]}}}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": STORAGE_CLASS,
                      "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": PROVISIONER, "volumeBindingMode": "WaitForFirstConsumer",
         "reclaimPolicy": "Delete"},
    ]


@dataclass
class LocalPath:
    """`target.local_path`: claims on the `local-path` StorageClass."""
    cluster: object
    helper_image: str

    def claim(self, name: str, namespace: str, size: str = "16Mi") -> str:
        """A ReadWriteOnce claim (Pending until a pod uses it: WaitForFirstConsumer)."""
        self.cluster.apply([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                      "resources": {"requests": {"storage": size}}}}])
        return name

    def phase(self, name: str, namespace: str) -> str:
        pvc = client.CoreV1Api(self.cluster.api).read_namespaced_persistent_volume_claim(name, namespace)
        return pvc.status.phase


@declares(needs=("kubernetes", "kubelets", "pod_network", "service_proxy"), provides=("local_path",))
def apply(lab, target) -> None:
    """The provisioner, its config and the default StorageClass; the images
    on every node (no registry)."""
    cluster = target.kubernetes
    image, helper = IMAGES["local-path-provisioner"], IMAGES["busybox"]
    for host in cluster.kubelets:
        import_images(host, [image, helper])
    cluster.apply(manifests(image, helper))
    wait_until(lambda: k8s_api.rolled_out(cluster.api, NAMESPACE, NAME),
               f"deployment {NAMESPACE}/{NAME} ({image}) to roll out", timeout=180, interval=0.5)
    cluster.versions["local-path-provisioner"] = image.rsplit(":", 1)[1]
    target.provide("local_path", LocalPath(cluster, helper), "local-path", "persistent-volumes")
