"""What the suites drive: a Target, built by applying a setup's recipe to a lab.

A Target is a set of components, each a declared attribute named as Python
names things (`target.etcd`, `target.service_proxy`, `target.pod_network`),
plus the capabilities the parts and the provisioner declare. A suite reads
`target.etcd` without knowing which setup or provisioner made it; a test
marked `@pytest.mark.requires("etcd")` is skipped, with the capability named,
on a target that lacks it.

On fcio-k8s, k3s, nixos and centos-hardway the target is a real cluster
(kube-apiserver, kubelets, kube-proxy, flannel, CoreDNS) driven through its
API: `target.kubernetes`. The kubeadm-ha target still uses the harness's
STAND-INS for the Kubernetes components (BIND for CoreDNS, netns pods, the
service proxy, the pod network's routes) on real daemons; it offers the same
attributes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from harness.lab.timeline import Timeline
from harness.model.setups import KUBERNETES_ROLES, WORKER_ROLES

if TYPE_CHECKING:
    from harness.lab import Lab
    from harness.lab.host import Host
    from harness.setups.parts.datastore.postgres import Datastore
    from harness.setups.parts.dns.server import ClusterDNS
    from harness.setups.parts.etcd.cluster import EtcdCluster
    from harness.setups.parts.kine import Kine
    from harness.setups.parts.local_path import LocalPath
    from harness.setups.parts.frontend.haproxy import HAProxyFrontend
    from harness.setups.parts.pod_network import PodNetwork
    from harness.setups.parts.pod_network.bgp import BgpFabric
    from harness.setups.parts.service_proxy.proxy import ServiceProxy
    from harness.setups.parts.storage.nfs import NfsStorage
    from harness.setups.parts.webgateway import Webgateway
    from harness.setups.parts.workloads.workloads import Workloads
    from harness.setups.parts.kubernetes.cluster import Cluster
    from harness.setups.pki import Pki
    from harness.setups.parts.kubernetes.workloads import KubeProxy, KubeWorkloads


class MissingComponent(AttributeError):
    pass


class Target:
    # the components a part may provide (annotations only: a missing one is
    # MissingComponent, naming what the target has)
    #: etcd members, or kine (seed 001: etcd's API on PostgreSQL)
    etcd: EtcdCluster | Kine
    pod_network: PodNetwork
    bgp: BgpFabric
    dns: ClusterDNS
    #: (status, addresses) of a name, asked on a host: harness.lab.resolver.Resolution
    resolve: Callable[..., tuple[str, list[str]]]
    #: the address the cluster DNS answers on (HAProxy's resolver asks it)
    dns_server: str
    #: the CoreDNS image every containerd has
    dns_image: str
    service_proxy: ServiceProxy | KubeProxy
    workload: Workloads | KubeWorkloads
    frontend: HAProxyFrontend
    storage: NfsStorage
    claim: Callable[..., Any]
    datastore: Datastore
    #: PersistentVolumeClaims on local-path-provisioner (seed 001)
    local_path: LocalPath
    webgateway: Webgateway
    #: a real cluster (its API client, kubectl on its control planes, its versions)
    kubernetes: Cluster
    #: the cluster's certificate authority (harness.setups.parts.kubernetes.cluster_ca)
    pki: Pki
    #: the hosts that run containerd (a kubelet comes later)
    container_runtime: list[Host]
    #: the hosts that run a kubelet
    kubelets: list[Host]
    #: host:port of the control-plane endpoint in front of every apiserver (kubeadm-ha)
    api_endpoint: str

    #: what the target is, for skip reasons: a lab the harness made, or a
    #: cluster it attached to (harness.setups.attached)
    origin = "lab target"
    #: the namespace suites create their objects in (an attached cluster's run has its own)
    namespace = "default"

    def __init__(self, lab: Lab, capabilities: set[str] | None = None):
        self.lab = lab
        self.capabilities: set[str] = set(capabilities or ())
        self._components: dict[str, Any] = {}
        #: what stands in for a component the setup's document names, as the
        #: report shows it ("kube-router stands in for Calico")
        self.stand_ins: list[str] = []
        #: each part's and host's start and end as the setup was applied (none when attached)
        self.timeline = Timeline()

    def __repr__(self) -> str:
        return (f"<target of {self.lab.id}: "
                f"{', '.join(sorted(self.capabilities)) or 'no capabilities'}>")

    def provide(self, name: str, component: Any, *capabilities: str) -> None:
        """Register a component as the attribute `name` and declare capabilities."""
        if name not in Target.__annotations__:
            raise ValueError(f"{name!r} is not a declared Target attribute "
                             f"({', '.join(Target.__annotations__)})")
        self._components[name] = component
        self.capabilities.update(capabilities)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def provided(self, name: str) -> bool:
        return name in self._components

    @property
    def hosts(self) -> list[Host]:
        return list(self.lab.hosts.values())

    @property
    def cluster_hosts(self) -> list[Host]:
        """Hosts with a Kubernetes role (on the cluster network)."""
        return [h for h in self.hosts if set(h.roles) & KUBERNETES_ROLES]

    @property
    def workers(self) -> list[Host]:
        """The node/agent hosts, in topology order."""
        return [h for h in self.hosts if set(h.roles) & WORKER_ROLES]

    def __getattr__(self, name: str) -> Any:
        components = self.__dict__.get("_components", {})
        if name in components:
            return components[name]
        raise MissingComponent(
            f"the target of lab {self.lab.id} (setup {self.lab.topology.setup}) "
            f"has no component {name!r}; it has: {', '.join(sorted(components)) or 'none'}")
