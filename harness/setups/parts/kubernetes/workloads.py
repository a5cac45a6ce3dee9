"""Workloads on the real cluster: `target.workload(name, port).scale(n)` is a
Deployment of agnhost (the upstream e2e test server, `serve-hostname`, which
answers `/` with its pod's name) behind a Service (headless or with a
ClusterIP), scaled through the API; `scale` returns once exactly n pods are
Ready, the Service's EndpointSlices list exactly them and every kube-proxy
has written its rules for them; `pod_ips()` comes from the EndpointSlices.

A pod's `run(cmd)` runs a command in the pod's network namespace on its node
(the agnhost image holds one binary and no shell): what a client in the pod
would see of the network.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.lab.wait import wait_until
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.layout import CONTAINERD_SOCKET

if TYPE_CHECKING:
    from harness.lab.host import CommandResult, Host
    from harness.setups.parts.kubernetes.cluster import Cluster

SCALE_TIMEOUT_S = 120


#: where a bare pod (`target.workload.pod`) serves its name
BARE_POD_PORT = 8080


def serving_container(image: str, port: int) -> dict:
    """agnhost serving its pod's name on `port`: the harness's own image
    (`localhost/...`, in no registry) is never pulled; another (the upstream
    agnhost of an attached cluster) is pulled where a node lacks it."""
    pull = "Never" if image.startswith("localhost/") else "IfNotPresent"
    return {"name": "agnhost", "image": image, "imagePullPolicy": pull,
            "args": ["serve-hostname", f"--port={port}"], "ports": [{"containerPort": port}],
            "readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 1}}


@dataclass
class KubePod:
    name: str
    namespace: str
    ips: list[str]
    node: Host
    container_id: str
    port: int = BARE_POD_PORT

    def run(self, cmd: str, timeout: float | None = 60) -> CommandResult:
        """`cmd` in the pod's network namespace, on its node."""
        pid = self.node.succeed(shlex.join(
            ["ctr", "-a", CONTAINERD_SOCKET, "-n", "k8s.io", "task", "ls"])).split()
        task = pid.index(self.container_id) if self.container_id in pid else -1
        if task < 0:
            raise RuntimeError(f"pod {self.name}: container {self.container_id} not running "
                               f"on {self.node.name}")
        return self.node.run(shlex.join(["nsenter", f"--net=/proc/{pid[task + 1]}/ns/net",
                                         "sh", "-c", cmd]), timeout=timeout)


@dataclass
class KubeProxy:
    """kube-proxy, as suites see it: the hosts it runs on."""
    hosts: list[Host]


class KubeWorkload:
    def __init__(self, cluster: Cluster, image: str, name: str, namespace: str, port: int,
                 headless: bool):
        self.cluster, self.image = cluster, image
        self.name, self.namespace, self.port, self.headless = name, namespace, port, headless
        self._core, self._apps = client.CoreV1Api(cluster.api), client.AppsV1Api(cluster.api)
        self._discovery = client.DiscoveryV1Api(cluster.api)
        self._created = False

    def __repr__(self) -> str:
        return f"<KubeWorkload {self.namespace}/{self.name} port {self.port}>"

    def _manifests(self, replicas: int) -> list[dict]:
        labels = {"app": self.name}
        return [
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": self.name, "namespace": self.namespace},
             "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": {
                          "terminationGracePeriodSeconds": 1,
                          "containers": [serving_container(self.image, self.port)]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": self.name, "namespace": self.namespace},
             "spec": {"selector": labels, "ports": [{"port": self.port, "targetPort": self.port}],
                      **({"clusterIP": "None"} if self.headless else {})}},
        ]

    def scale(self, replicas: int) -> KubeWorkload:
        if replicas < 0:
            raise ValueError(f"workload {self.namespace}/{self.name}: replicas must be >= 0")
        if not self._created:
            self.cluster.apply(self._manifests(replicas))
            self._created = True
        else:
            self._apps.patch_namespaced_deployment_scale(
                self.name, self.namespace, {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json")
        return self._served(replicas)

    def set_port(self, port: int) -> KubeWorkload:
        """Roll the pods over to a new container port, the Service with them
        (a changed manifest applied, as `kubectl apply` of a new port does)."""
        replicas = len(self.pods)
        self.port = port
        self.cluster.apply(self._manifests(replicas))
        self._created = True
        wait_until(lambda: k8s_api.rolled_out(self.cluster.api, self.namespace, self.name),
                   f"{self.namespace}/{self.name} to roll out on port {port}", SCALE_TIMEOUT_S,
                   interval=0.2)
        return self._served(replicas)

    def _served(self, replicas: int) -> KubeWorkload:
        """Wait until exactly `replicas` pods serve on the workload's port:
        Ready, in the EndpointSlices, and in every kube-proxy's rules."""
        wait_until(lambda: len(self.pods) == replicas and len(self.pod_ips()) == replicas,
                   f"{replicas} Ready pods of {self.namespace}/{self.name} on port {self.port}, "
                   f"in its EndpointSlices", SCALE_TIMEOUT_S, interval=0.2)
        if not self.headless:
            want = sorted(f"{ip}:{self.port}" for ip in self.pod_ips())
            for host in self.cluster.proxies:
                wait_until(lambda: self.proxied_on(host) == want,
                           f"kube-proxy on {host.name} to send {self.namespace}/{self.name} to {want}",
                           SCALE_TIMEOUT_S, interval=0.2)
        return self

    def proxied_on(self, host: Host) -> list[str]:
        """The endpoints kube-proxy on `host` DNATs this Service to (its rules
        are written asynchronously, after the EndpointSlices change)."""
        comment = f'--comment "{self.namespace}/{self.name}"'
        # both families (an IPv6 cluster's rules are ip6tables', written [address]:port)
        rules = host.succeed("iptables-save -t nat; ip6tables-save -t nat").splitlines()
        return sorted(r.split("--to-destination ", 1)[1].split()[0].replace("[", "").replace("]", "")
                      for r in rules if comment in r and "-j DNAT" in r)

    @property
    def pods(self) -> list[KubePod]:
        """The Ready pods of the Deployment (terminating ones are not)."""
        found = self._core.list_namespaced_pod(self.namespace, label_selector=f"app={self.name}")
        return [kube_pod(self.cluster, p, self.port) for p in found.items if ready(p)]

    def pod_ips(self) -> list[str]:
        """The Ready endpoints' addresses, from the EndpointSlices that give
        the workload's port."""
        slices = self._discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.name}")
        return sorted(a for s in slices.items if [p.port for p in s.ports or ()] == [self.port]
                      for e in s.endpoints or () if e.conditions and e.conditions.ready
                      for a in e.addresses)

    @property
    def cluster_ip(self) -> str | None:
        ip = self._core.read_namespaced_service(self.name, self.namespace).spec.cluster_ip
        return None if ip in (None, "", "None") else ip


def ready(pod: client.V1Pod) -> bool:
    """Ready and not terminating."""
    return not pod.metadata.deletion_timestamp and k8s_api.ready(pod.status.conditions)


def kube_pod(cluster: Cluster, pod: client.V1Pod, port: int) -> KubePod:
    hosts = {h.name: h for h in cluster.kubelets}
    return KubePod(pod.metadata.name, pod.metadata.namespace, [i.ip for i in pod.status.pod_ips or ()],
                   hosts[pod.spec.node_name],
                   pod.status.container_statuses[0].container_id.split("://", 1)[1], port)


class KubeWorkloads:
    def __init__(self, cluster: Cluster, image: str, namespace: str = "default"):
        #: where a workload goes when none is named (an attached cluster: the run's own)
        self.namespace = namespace
        self.cluster, self.image = cluster, image
        self._core = client.CoreV1Api(cluster.api)
        self._made: dict[tuple[str, str], KubeWorkload] = {}

    def pod(self, node: Host, name: str, namespace: str) -> KubePod:
        """One bare pod on `node` (no Deployment, no Service), once Ready."""
        self.cluster.apply([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
             "spec": {"nodeName": node.name, "terminationGracePeriodSeconds": 1,
                      "containers": [serving_container(self.image, BARE_POD_PORT)]}}])

        def made():
            found = self._core.read_namespaced_pod(name, namespace)
            return kube_pod(self.cluster, found, BARE_POD_PORT) if ready(found) else None
        return wait_until(made, f"pod {namespace}/{name} on {node.name} to be Ready", SCALE_TIMEOUT_S,
                          interval=0.2)

    def delete_pod(self, pod: KubePod) -> None:
        """Delete the pod and wait until it is gone (`kubectl delete --wait`)."""
        self._core.delete_namespaced_pod(pod.name, pod.namespace)

        def gone():
            try:
                self._core.read_namespaced_pod(pod.name, pod.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return True
                raise
            return False
        wait_until(gone, f"pod {pod.namespace}/{pod.name} to be deleted", 60, interval=0.2)

    def __call__(self, name: str, namespace: str | None = None, port: int = 8080,
                 headless: bool = False) -> KubeWorkload:
        namespace = namespace or self.namespace
        key = (namespace, name)
        if key not in self._made:
            self._made[key] = KubeWorkload(self.cluster, self.image, name, namespace, port, headless)
        return self._made[key]
