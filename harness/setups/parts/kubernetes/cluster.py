"""The real cluster a lab runs, as its parts build it up and its target and
suites reach it: one or several control planes, one API endpoint, the
hosts that run a kubelet, the cluster DNS address and the versions."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from kubernetes import client

from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.layout import ADMIN_KUBECONFIG

if TYPE_CHECKING:
    from harness.lab import Lab
    from harness.lab.host import Host
    from harness.setups.parts.kubernetes.control_plane import ControlPlane
    from harness.setups.pki import Pki


@dataclass
class Cluster:
    """The harness drives it through the API (`api`, opened on first use and
    closed with the lab); `kubectl` runs on the first control plane, as a
    person there runs it."""
    lab: Lab = field(repr=False)
    control_planes: list[ControlPlane]
    pki: Pki = field(repr=False)
    domain: str
    service_cidr: str
    pod_cidr: str
    #: every host that runs a kubelet (a Node of the cluster)
    kubelets: list[Host] = field(default_factory=list)
    #: every host that runs kube-proxy
    proxies: list[Host] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    #: the cluster-admin kubeconfig on each control plane (root's only)
    admin_kubeconfig: str = ADMIN_KUBECONFIG

    @property
    def endpoint(self) -> ControlPlane:
        """The control plane whose apiserver is the cluster's API endpoint."""
        return self.control_planes[0]

    @property
    def server(self) -> str:
        """The API endpoint's URL, as the cluster's hosts reach it."""
        return self.endpoint.server

    @property
    def admin_host(self) -> Host:
        """Where a person runs kubectl with the cluster-admin kubeconfig."""
        return self.endpoint.host

    @cached_property
    def api(self) -> client.ApiClient:
        return k8s_api.connect(self.lab, self.endpoint.host, self.endpoint.address, self.pki)

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """`kubectl ARGS...` on the admin host; its output."""
        command = shlex.join(["kubectl", *args])
        result = self.admin_host.run(command, input=input, timeout=timeout)
        if not result.ok:
            raise RuntimeError(f"{command} on {self.admin_host.name}: {result.summary()}")
        return result.stdout

    def apply(self, manifests: list[dict]) -> None:
        k8s_api.apply(self.api, manifests)
