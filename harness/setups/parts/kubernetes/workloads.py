"""Workloads on the real cluster: `target.workload(name, port).scale(n)` is a
Deployment of agnhost (the upstream e2e test server, `netexec`, which
answers `/hostname` with its pod's name) behind a Service (headless or with
a ClusterIP), scaled through the API; `scale` returns once exactly n pods
are Ready and the Service's EndpointSlices list exactly them, and
`pod_ips()` comes from those EndpointSlices.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.lab.wait import wait_until

if TYPE_CHECKING:
    from harness.setups.parts.kubernetes.fcio import Cluster

SCALE_TIMEOUT_S = 120


@dataclass
class KubePod:
    name: str
    ips: list[str]
    node: str


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
                          "containers": [{
                              "name": "agnhost", "image": self.image, "imagePullPolicy": "Never",
                              "args": ["netexec", f"--http-port={self.port}"],
                              "ports": [{"containerPort": self.port}],
                              "readinessProbe": {"httpGet": {"path": "/healthz", "port": self.port},
                                                 "periodSeconds": 1}}]}}}},
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
        return self

    @property
    def pods(self) -> list[KubePod]:
        """The Ready pods of the Deployment (terminating ones are not)."""
        data = json.loads(self.cluster.kubectl(f"-n {self.namespace} get pods -l app={self.name} -o json"))
        return [KubePod(p["metadata"]["name"], [i["ip"] for i in p["status"].get("podIPs", [])],
                        p["spec"].get("nodeName", ""))
                for p in data["items"]
                if not p["metadata"].get("deletionTimestamp")
                and any(c["type"] == "Ready" and c["status"] == "True"
                        for c in p["status"].get("conditions", []))]

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


class KubeWorkloads:
    def __init__(self, cluster: Cluster, image: str):
        self.cluster, self.image = cluster, image
        self._made: dict[tuple[str, str], KubeWorkload] = {}

    def __call__(self, name: str, namespace: str = "default", port: int = 8080,
                 headless: bool = False) -> KubeWorkload:
        key = (namespace, name)
        if key not in self._made:
            self._made[key] = KubeWorkload(self.cluster, self.image, name, namespace, port, headless)
        return self._made[key]
