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

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.lab.wait import wait_until
from harness.setups.parts.kubernetes.layout import CONTAINERD_SOCKET

if TYPE_CHECKING:
    from harness.lab.host import CommandResult, Host
    from harness.setups.parts.kubernetes.fcio import Cluster

SCALE_TIMEOUT_S = 120


#: where a bare pod (`target.workload.pod`) serves its name
BARE_POD_PORT = 8080


def serving_container(image: str, port: int) -> dict:
    return {"name": "agnhost", "image": image, "imagePullPolicy": "Never",
            "args": ["serve-hostname", f"--port={port}"], "ports": [{"containerPort": port}],
            "readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 1}}


@dataclass
class KubePod:
    name: str
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
            self.cluster.kubectl(f"-n {self.namespace} scale deployment/{self.name} "
                                 f"--replicas={replicas}")
        wait_until(lambda: len(self.pods) == replicas and len(self.pod_ips()) == replicas,
                   f"{replicas} Ready pods of {self.namespace}/{self.name}, in its EndpointSlices",
                   SCALE_TIMEOUT_S, interval=0.2)
        if not self.headless:
            want = sorted(f"{ip}:{self.port}" for ip in self.pod_ips())
            for host in self.cluster.members:
                wait_until(lambda: self.proxied_on(host) == want,
                           f"kube-proxy on {host.name} to send {self.namespace}/{self.name} to {want}",
                           SCALE_TIMEOUT_S, interval=0.2)
        return self

    def proxied_on(self, host: Host) -> list[str]:
        """The endpoints kube-proxy on `host` DNATs this Service to (its rules
        are written asynchronously, after the EndpointSlices change)."""
        comment = f'--comment "{self.namespace}/{self.name}"'
        rules = host.succeed("iptables-save -t nat").splitlines()
        return sorted(r.split("--to-destination ", 1)[1].split()[0] for r in rules
                      if comment in r and "-j DNAT" in r)

    @property
    def pods(self) -> list[KubePod]:
        """The Ready pods of the Deployment (terminating ones are not)."""
        data = json.loads(self.cluster.kubectl(f"-n {self.namespace} get pods -l app={self.name} -o json"))
        return [kube_pod(self.cluster, p, self.port) for p in data["items"] if ready(p)]

    def pod_ips(self) -> list[str]:
        data = json.loads(self.cluster.kubectl(
            f"-n {self.namespace} get endpointslices -l kubernetes.io/service-name={self.name} -o json"))
        return sorted(a for s in data["items"] for e in (s.get("endpoints") or [])
                      if e.get("conditions", {}).get("ready") for a in e["addresses"])

    @property
    def cluster_ip(self) -> str | None:
        ip = self.cluster.kubectl(f"-n {self.namespace} get service {self.name} "
                                  "-o jsonpath={.spec.clusterIP}").strip()
        return None if ip in ("", "None") else ip


def ready(pod: dict) -> bool:
    """Ready and not terminating."""
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def kube_pod(cluster: Cluster, pod: dict, port: int) -> KubePod:
    hosts = {h.name: h for h in cluster.members}
    return KubePod(pod["metadata"]["name"], [i["ip"] for i in pod["status"].get("podIPs", [])],
                   hosts[pod["spec"]["nodeName"]],
                   pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1], port)


class KubeWorkloads:
    def __init__(self, cluster: Cluster, image: str):
        self.cluster, self.image = cluster, image
        self._made: dict[tuple[str, str], KubeWorkload] = {}

    def pod(self, node: Host, name: str, namespace: str) -> KubePod:
        """One bare pod on `node` (no Deployment, no Service), once Ready."""
        self.cluster.apply([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
             "spec": {"nodeName": node.name, "terminationGracePeriodSeconds": 1,
                      "containers": [serving_container(self.image, BARE_POD_PORT)]}}])

        def made():
            found = json.loads(self.cluster.kubectl(f"-n {namespace} get pod {name} -o json"))
            return kube_pod(self.cluster, found, BARE_POD_PORT) if ready(found) else None
        return wait_until(made, f"pod {namespace}/{name} on {node.name} to be Ready", SCALE_TIMEOUT_S,
                          interval=0.2)

    def delete_pod(self, pod: KubePod) -> None:
        namespace = self.cluster.kubectl(
            f"get pods -A --field-selector metadata.name={pod.name} "
            "-o jsonpath={.items[0].metadata.namespace}").strip()
        self.cluster.kubectl(f"-n {namespace} delete pod {pod.name} --wait=true --timeout=60s")

    def __call__(self, name: str, namespace: str = "default", port: int = 8080,
                 headless: bool = False) -> KubeWorkload:
        key = (namespace, name)
        if key not in self._made:
            self._made[key] = KubeWorkload(self.cluster, self.image, name, namespace, port, headless)
        return self._made[key]
