"""Workloads: a named set of pods behind a service, scaled like a Deployment.

The lab stands in for the Deployment controller, the scheduler and the
endpoints controller: `scale(n)` starts or stops pods (pods.py: network namespaces standing in for kubelet pods) spread
over the node/agent hosts, and the cluster DNS follows in the same call, as
CoreDNS follows the endpoints. On scale-down a pod leaves DNS before it
stops, as an endpoint is removed before its pod is killed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from harness.setups.parts.workloads.pods import DEFAULT_PORT, Pod, create_pod, delete_pod, delete_pods

if TYPE_CHECKING:
    from harness.setups.parts.dns.server import ClusterDNS
    from harness.lab.host import Host
    from harness.setups.parts.service_proxy.proxy import ServiceProxy


class Workload:
    def __init__(self, name: str, namespace: str, port: int, nodes: list[Host],
                 subnets: dict, dns: ClusterDNS | None, headless: bool = False,
                 proxy: ServiceProxy | None = None):
        self.name, self.namespace, self.port, self.headless = name, namespace, port, headless
        self.nodes, self.subnets, self.dns, self.proxy = nodes, subnets, dns, proxy
        self.pods: list[Pod] = []
        self._serial = 0

    def __repr__(self) -> str:
        return f"<Workload {self.namespace}/{self.name} port {self.port}: {len(self.pods)} pods>"

    @property
    def cluster_ip(self) -> str | None:
        """The service's ClusterIP (None for a headless service or before the first scale)."""
        records = self.dns.services.get((self.namespace, self.name)) if self.dns else None
        return records.cluster_ip if records else None

    def pod_ips(self) -> list[str]:
        return sorted(ip for pod in self.pods for ip in pod.ips)

    def _least_loaded_node(self) -> Host:
        return min(self.nodes, key=lambda n: sum(p.node is n for p in self.pods))

    def _publish(self) -> None:
        """DNS (and, for a ClusterIP, the service proxy) follow the pods: the
        Service's port is the pods' port."""
        if self.dns is not None:
            self.dns.set_service(self.name, self.namespace, self.pod_ips(), self.headless)
        if self.proxy is not None and self.cluster_ip:
            self.proxy.set_service(f"{self.namespace}/{self.name}", self.cluster_ip, self.port,
                                   self.pod_ips())

    def scale(self, replicas: int) -> Workload:
        if replicas < 0:
            raise ValueError(f"workload {self.namespace}/{self.name}: replicas must be >= 0, got {replicas}")
        starting = []
        while len(self.pods) < replicas:
            node = self._least_loaded_node()
            self._serial += 1
            starting.append(create_pod(node, f"{self.name}-{self._serial}", self.namespace,
                                       self.subnets[node.name], port=self.port, wait_ready=False))
            self.pods.append(starting[-1])
        for pod in starting:   # started together, waited for together
            pod.wait_ready()
        leaving = self.pods[replicas:]
        self.pods = self.pods[:replicas]
        self._publish()
        delete_pods(leaving)
        return self

    def set_port(self, port: int) -> Workload:
        """Roll every pod over to a new container port (a changed Deployment)."""
        replicas = len(self.pods)
        self.scale(0)
        self.port = port
        return self.scale(replicas)


class Workloads:
    """`target.workload(name, namespace, port)`: the workload of that name,
    made on first use."""

    def __init__(self, nodes: list[Host], subnets: dict, dns: ClusterDNS | None,
                 proxy: ServiceProxy | None = None):
        if not nodes:
            raise ValueError("no node/agent host to run pods on")
        self.nodes, self.subnets, self.dns, self.proxy = nodes, subnets, dns, proxy
        self.all: dict[tuple[str, str], Workload] = {}

    def pod(self, node: Host, name: str, namespace: str, **options) -> Pod:
        """One bare pod on `node` (no workload, not published): pods.create_pod's options."""
        return create_pod(node, name, namespace, self.subnets[node.name], **options)

    @staticmethod
    def delete_pod(pod: Pod) -> None:
        delete_pod(pod)

    def __call__(self, name: str, namespace: str = "default", port: int = DEFAULT_PORT,
                 headless: bool = False) -> Workload:
        key = (namespace, name)
        if key not in self.all:
            self.all[key] = Workload(name, namespace, port, self.nodes, self.subnets, self.dns,
                                     headless, self.proxy)
        return self.all[key]
