"""The cluster's API as the harness reaches it: the official `kubernetes`
client, through a loopback tunnel into the master.

The apiserver listens only in the lab. `connect` opens a Tunnel
(harness.lab.tunnel) whose connections the master makes itself
(Host.connect), and an ApiClient for https://127.0.0.1:<tunnel port> with
the cluster-admin certificate, key and CA the harness made. TLS is verified: the apiserver's
serving certificate names 127.0.0.1. No proxy is ever used, whatever the
environment says. Tunnel, client and the client's credentials end with the
lab (Lab.close). The certificate and key are in memory files (memfd): the
client needs paths, and a key written to /tmp would outlive a kill -9.

`apply` is server-side apply (`kubectl apply --server-side`) for the kinds
the kubernetes part writes.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kubernetes import client

from harness.lab.tunnel import Tunnel
from harness.setups.parts.kubernetes.layout import APISERVER_PORT
from harness.setups.pki import Pki

if TYPE_CHECKING:
    from harness.lab import Lab
    from harness.lab.host import Host

FIELD_MANAGER = "harness"
#: kind -> (API class, patch method, namespaced)
APPLIERS = {
    "Namespace": (client.CoreV1Api, "patch_namespace", False),
    "ServiceAccount": (client.CoreV1Api, "patch_namespaced_service_account", True),
    "ConfigMap": (client.CoreV1Api, "patch_namespaced_config_map", True),
    "Service": (client.CoreV1Api, "patch_namespaced_service", True),
    "Pod": (client.CoreV1Api, "patch_namespaced_pod", True),
    "Deployment": (client.AppsV1Api, "patch_namespaced_deployment", True),
    "DaemonSet": (client.AppsV1Api, "patch_namespaced_daemon_set", True),
    "ClusterRole": (client.RbacAuthorizationV1Api, "patch_cluster_role", False),
    "ClusterRoleBinding": (client.RbacAuthorizationV1Api, "patch_cluster_role_binding", False),
    "Role": (client.RbacAuthorizationV1Api, "patch_namespaced_role", True),
    "RoleBinding": (client.RbacAuthorizationV1Api, "patch_namespaced_role_binding", True),
    "Secret": (client.CoreV1Api, "patch_namespaced_secret", True),
    "StorageClass": (client.StorageV1Api, "patch_storage_class", False),
    "PersistentVolumeClaim": (client.CoreV1Api, "patch_namespaced_persistent_volume_claim", True),
}


class NoConnect(RuntimeError):
    """The lab's provisioner cannot open connections from inside a host."""


def connect(lab: Lab, master: Host, address: str, pki: Pki) -> client.ApiClient:
    """An API client for the apiserver at address:6443 as the master reaches it,
    with the cluster-admin credentials of `pki` (the one the harness made)."""
    if "connect" not in lab.provisioner.capabilities:
        raise NoConnect(f"the kubernetes part reaches the apiserver through Host.connect, which "
                        f"provisioner {lab.provisioner.name} lacks (capability 'connect')")
    pem = {name: pki.files[name] for name in ("ca.pem", "cluster-admin.pem", "cluster-admin-key.pem")}
    cert_file = memory_file(lab, f"harness-{lab.id}-cluster-admin.pem", pem["cluster-admin.pem"])
    key_file = memory_file(lab, f"harness-{lab.id}-cluster-admin-key.pem", pem["cluster-admin-key.pem"])
    tunnel = Tunnel(lambda: master.connect(address, APISERVER_PORT),
                    f"{master.lab_id}/{master.name} {address}:{APISERVER_PORT}")
    lab.on_close(tunnel.close)
    config = client.Configuration(host=f"https://127.0.0.1:{tunnel.port}")
    config.proxy = None
    config.ca_cert_data = pem["ca.pem"].decode()
    config.cert_file, config.key_file = cert_file, key_file
    api = client.ApiClient(config)
    lab.on_close(api.close)
    return api


def memory_file(lab: Lab, name: str, data: bytes) -> str:
    """A path to `data` that exists only in this process's memory, until
    the lab is closed (or the process ends, however it ends)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    lab.on_close(lambda: os.close(fd))
    with open(fd, "wb", closefd=False) as file:
        file.write(data)
    return f"/proc/self/fd/{fd}"


def apply(api: client.ApiClient, manifests: list[dict]) -> None:
    """Create or update each object as given (server-side apply, the harness
    as field manager, taking over fields others set)."""
    for manifest in manifests:
        api_class, method, namespaced = APPLIERS[manifest["kind"]]
        meta = manifest["metadata"]
        where = (meta["name"], meta.get("namespace", "default")) if namespaced else (meta["name"],)
        getattr(api_class(api), method)(*where, manifest, field_manager=FIELD_MANAGER, force=True,
                                        _content_type="application/apply-patch+yaml")


def ready(conditions) -> bool:
    """Whether a Pod's or Node's conditions say Ready."""
    return any(c.type == "Ready" and c.status == "True" for c in conditions or ())


def nodes_ready(api: client.ApiClient, names: list[str]) -> bool:
    """Whether every one of these Nodes is registered and Ready."""
    nodes = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    return all(name in nodes and ready(nodes[name].status.conditions) for name in names)


def nodes_registered(api: client.ApiClient, names: list[str]) -> bool:
    """Whether every one of these Nodes is registered."""
    return set(names) <= {n.metadata.name for n in client.CoreV1Api(api).list_node().items}


def rolled_out(api: client.ApiClient, namespace: str, name: str) -> bool:
    """A Deployment's every replica updated and available (`kubectl rollout status`)."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    want, status = deployment.spec.replicas, deployment.status
    return ((status.observed_generation or 0) >= deployment.metadata.generation
            and (status.updated_replicas or 0) == want and (status.available_replicas or 0) == want
            and (status.replicas or 0) == want)
