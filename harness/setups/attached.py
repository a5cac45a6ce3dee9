"""A cluster the harness did not make: the user's kubeconfig and, with an
ssh inventory, its hosts, seen as the same Target the suites drive on a lab.

`connect(kubeconfig)` loads the kubeconfig, reaches the apiserver and reads
what the API says of the cluster: its Nodes (each a host known only
through the API: no command runs there, so a host check is skipped with
capability 'hosts' named), which of them serve the API (the `kubernetes`
Service's EndpointSlices), the service CIDR (the ServiceCIDR objects) and
the versions. A bad kubeconfig, an unreachable apiserver or refused
credentials is one AttachError line, never a traceback.

With an inventory naming a setup, the target offers what that setup
promises (harness.setups.promises) on the inventory's hosts: kube-proxy,
the pod network, the cluster DNS, and an HAProxy of the run's own on the
frontend (harness.setups.ssh_processes ties it to the run).

`AttachedLab.open()` first removes the namespaces of earlier runs that are
surely gone, then makes the run's own (harness.setups.run_namespaces);
everything the suites create goes there (kubectl runs with `--namespace`
of it, and refuses an object naming another), and `close()` deletes it and
waits until it is gone, and ends what the run started on the hosts. Nothing
else on the cluster is changed. The client's certificate and key (when the
kubeconfig carries them as data) are memory files, as a lab's.

The API endpoint is the kubeconfig's (kind's GetAPIServerEndpoint); kubectl
runs in this process: the artifacts' kubectl, or the one on PATH.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import urllib3
import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from harness import artifacts
from harness.artifacts.spec import E2E_AGNHOST
from harness.lab import Lab
from harness.lab.host import CommandResult, Host, MissingCapability
from harness.lab import resolver
from harness.model.setups import CONTROL_PLANE_ROLES
from harness.model.topology import HostSpec, Network, Topology
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.cluster import Cluster
from harness.setups.parts.kubernetes.control_plane import ControlPlane
from harness.setups.parts.kubernetes.workloads import KubeProxy, KubeWorkloads
from harness.setups.parts.pod_network import PodNetwork
from harness.setups import inventory as inventory_mod, promises, run_namespaces
from harness.setups.parts.frontend.haproxy import HAProxyFrontend
from harness.setups.target import Target

#: how long one request may take before the apiserver counts as unreachable
REQUEST_TIMEOUT_S = 10
#: the network the Nodes' InternalIPs are put on in the attached topology
NODES_NETWORK = "nodes"


class AttachError(RuntimeError):
    """The cluster cannot be attached to: one line saying why."""


class ApiOnlyHost(Host):
    """A Node the harness knows only through the API (no ssh inventory):
    its name, roles and addresses; a command on it is MissingCapability."""

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        raise MissingCapability("hosts", f"no ssh inventory (--inventory): {self.name} is known "
                                         "only through the API, no command runs there")


@dataclass
class AttachedCluster(Cluster):
    """The Cluster the suites know, on the user's kubeconfig: the API client
    is the kubeconfig's, kubectl runs here in the run's namespace."""
    client: client.ApiClient | None = field(default=None, repr=False)
    kubeconfig: str = ""
    server_url: str = ""
    namespace: str = "default"

    @property
    def api(self) -> client.ApiClient:
        return self.client

    @property
    def server(self) -> str:
        return self.server_url

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """`kubectl ARGS...` in this process, with the user's kubeconfig, in the run's namespace."""
        argv = [kubectl_binary(), f"--kubeconfig={self.kubeconfig}", f"--namespace={self.namespace}",
                *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{shlex.join(['kubectl', *args])}: rc={result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()[-400:]}")
        return result.stdout


def kubectl_binary() -> str:
    """The artifacts' kubectl, else the one on PATH."""
    try:
        return str(artifacts.binary("kubectl"))
    except LookupError:
        found = shutil.which("kubectl")
        if not found:
            raise AttachError("no kubectl: neither among the harness's artifacts "
                              "(`harness artifacts build`) nor on PATH") from None
        return found


class Existing:
    """The LabBackend of an attached cluster: it made nothing and removes
    nothing (destroy and detach only end what this process holds)."""
    name = "existing cluster"
    capabilities: frozenset[str] = frozenset()

    def detach(self, lab_id: str) -> None:
        pass

    def destroy(self, lab_id: str) -> None:
        pass

    def console(self, host: Host) -> bytes | None:
        return None


class AttachedLab(Lab):
    """What a Lab is to the suites (id, topology, hosts, on_close), for a
    cluster the harness attaches to. Nothing of it is ever removed but the
    run's namespace (close)."""
    def __init__(self, lab_id: str, kubeconfig: str, context: str, server: str,
                 api: client.ApiClient, topology: Topology, hosts: dict[str, Host],
                 control_planes: list[str], versions: dict[str, str],
                 closers: list[Callable[[], None]], inventory: inventory_mod.Inventory | None = None,
                 node_names: frozenset[str] = frozenset()):
        super().__init__(lab_id, topology, Existing(), hosts)
        self.inventory = inventory
        #: the hosts that are Nodes of the cluster (an inventory may list others)
        self.node_names = node_names
        self.origin = ("attached cluster, kubeconfig only: host checks need an ssh inventory "
                       "(--inventory)" if inventory is None else
                       f"attached cluster with ssh inventory {inventory.source}: its hosts are "
                       "never crashed or blocked, faulted only with --allow-destructive")
        self.kubeconfig, self.context, self.server, self.api = kubeconfig, context, server, api
        self.control_planes, self.versions = control_planes, versions
        self.namespace: str | None = None
        self._closers = closers
        self.promises = None if inventory is None or inventory.setup is None else \
            promises.of(inventory.setup)
        closers += [h.close for h in hosts.values() if isinstance(h, inventory_mod.SshHost)]

    def __repr__(self) -> str:
        return f"<AttachedLab {self.id}: {self.server} ({len(self.hosts)} nodes)>"

    @property
    def capabilities(self) -> set[str]:
        found = {"k8s-api", "workloads", "attached", *self.topology.families}
        if self.inventory is not None:
            found |= {"hosts", "ssh", "popen"}
        if self.promises is not None:
            found |= self.promises.capabilities - ({"haproxy"} if self.frontend is None else set())
        return found

    @property
    def frontend(self) -> Host | None:
        """The inventory's first frontend host, if it has one."""
        return next((h for h in self.hosts.values() if isinstance(h, inventory_mod.SshHost)
                     and "frontend" in h.roles), None)

    def open(self) -> str:
        """Make the run's own namespace (removed by close, also after Ctrl-C),
        once the namespaces of runs that are gone are removed."""
        run_namespaces.collect(self.api)
        core = client.CoreV1Api(self.api)
        name = f"harness-{self.id.removeprefix('attached-')}-{os.getpid()}"
        run_namespaces.create(core, name, self.id)
        self.on_close(lambda: run_namespaces.delete(core, name))
        self.namespace = name
        return name

    def target(self) -> Target:
        """The Target the suites drive: the API, workloads in the run's namespace."""
        if self.namespace is None:
            raise RuntimeError(f"{self!r}: open() first (the run's namespace)")
        planes = [ControlPlane(self.hosts[name], str(self.hosts[name].address())) for name in
                  self.control_planes]
        cluster = AttachedCluster(
            lab=self, control_planes=planes, pki=None, domain=self.topology.domain,
            service_cidr=",".join(map(str, self.topology.service_cidrs)),
            pod_cidr=",".join(map(str, self.topology.pod_cidrs)),
            kubelets=[h for name, h in self.hosts.items() if name in self.node_names],
            versions=dict(self.versions), client=self.api,
            kubeconfig=self.kubeconfig, server_url=self.server, namespace=self.namespace)
        target = Target(self, self.capabilities)
        target.origin, target.namespace = self.origin, self.namespace
        target.provide("kubernetes", cluster, "k8s-api")
        target.provide("kubelets", cluster.kubelets)
        target.provide("workload", KubeWorkloads(cluster, E2E_AGNHOST, self.namespace),
                       "workloads")
        if self.promises is not None:
            self.provide_promised(target, cluster)
        return target

    def provide_promised(self, target: Target, cluster: AttachedCluster) -> None:
        """What the inventory's setup promises, on the inventory's hosts."""
        cluster.proxies = [h for name, h in self.hosts.items()
                           if name in self.inventory.roles and set(h.roles) & self.promises.proxy_roles]
        target.provide("service_proxy", KubeProxy(cluster.proxies), "service-proxy")
        nodes = client.CoreV1Api(self.api).list_node(_request_timeout=REQUEST_TIMEOUT_S).items
        target.provide("pod_network", PodNetwork(
            {n.metadata.name: [ipaddress.ip_network(c) for c in n.spec.pod_cidrs or ()]
             for n in nodes if n.metadata.name in self.inventory.roles}, self.promises.pod_roles),
            "pod-network")
        dns = cluster_dns(self.api)
        if dns:
            target.provide("resolve", resolver.resolver(self.topology.families), "dns")
            target.provide("dns_server", dns)
        if "haproxy" in target.capabilities and not dns:
            target.capabilities.discard("haproxy")   # its backends are found through the cluster DNS
        elif "haproxy" in target.capabilities:
            # an HAProxy of the run's own on the frontend (its files in the
            # run's directory there, its process tied to the run): the
            # frontend host's own HAProxy and config are left alone
            target.provide("frontend", HAProxyFrontend(self.frontend, dns, home=self.frontend.run_dir),
                           "frontend")


def load_kubeconfig(path: str, closers: list[Callable[[], None]]) -> tuple[client.Configuration, str]:
    """The client configuration of the kubeconfig's current context, and
    that context's name. Credentials given as data become memory files."""
    where = f"kubeconfig {path}"
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise AttachError(f"{where}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AttachError(f"{where}: not YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict) or not data.get("clusters") or not data.get("current-context"):
        raise AttachError(f"{where}: not a kubeconfig (it needs clusters, users, contexts and "
                          "a current-context)")
    configuration = client.Configuration()
    scratch = tempfile.mkdtemp(prefix="harness-kubeconfig-")
    try:
        kube_config.load_kube_config(path, client_configuration=configuration,
                                     persist_config=False, temp_file_path=scratch)
        for attribute in ("cert_file", "key_file", "ssl_ca_cert"):
            file = getattr(configuration, attribute)
            if file and Path(file).parent == Path(scratch):
                setattr(configuration, attribute, memory_file(
                    closers, f"harness-{attribute}", Path(file).read_bytes()))
    except (ConfigException, ValueError, TypeError, KeyError) as exc:
        raise AttachError(f"{where}: {' '.join(str(exc).split())}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    configuration.proxy = None
    configuration.retries = 0
    return configuration, data["current-context"]


def memory_file(closers: list[Callable[[], None]], name: str, data: bytes) -> str:
    holder = _Closers(closers)
    return k8s_api.memory_file(holder, name, data)


@dataclass
class _Closers:
    closers: list[Callable[[], None]]

    def on_close(self, closer: Callable[[], None]) -> None:
        self.closers.append(closer)


def connect(kubeconfig: str, inventory: str | None = None) -> AttachedLab:
    """Attach to the cluster of the kubeconfig's current context (and the
    hosts of the ssh inventory); AttachError (one line) when the kubeconfig
    or the inventory is bad, the apiserver cannot be reached or an ssh host refuses."""
    kubeconfig = str(Path(kubeconfig).absolute())
    try:
        hosts = None if inventory is None else inventory_mod.load(inventory)
    except inventory_mod.InventoryError as exc:
        raise AttachError(str(exc)) from None
    closers: list[Callable[[], None]] = []
    try:
        api, context, server, version = reach(kubeconfig, closers)
        lab = describe(api, kubeconfig, context, server, version, closers, hosts)
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise
    return lab


def reach(kubeconfig: str, closers: list[Callable[[], None]]
          ) -> tuple[client.ApiClient, str, str, str]:
    """(API client, context, server, version) of the kubeconfig's current
    context, once the apiserver answered; AttachError (one line) if not.
    What it holds is ended by `closers`."""
    configuration, context = load_kubeconfig(kubeconfig, closers)
    api = client.ApiClient(configuration)
    closers.append(api.close)
    return api, context, configuration.host, probe(api, configuration.host, kubeconfig)


def probe(api: client.ApiClient, server: str, kubeconfig: str) -> str:
    """The apiserver's version, or AttachError naming why it cannot be had."""
    try:
        return client.VersionApi(api).get_code(_request_timeout=REQUEST_TIMEOUT_S).git_version
    except ApiException as exc:
        raise AttachError(f"the apiserver {server} refused the credentials of kubeconfig "
                          f"{kubeconfig}: {exc.status} {exc.reason}") from None
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        text = " ".join(str(reason).split())
        if isinstance(reason, (ssl.SSLError, urllib3.exceptions.SSLError)):
            raise AttachError(f"TLS with the apiserver {server} failed (kubeconfig {kubeconfig}): "
                              f"{text}: is it the kubeconfig's cluster?") from None
        raise AttachError(f"cannot reach the apiserver {server} (kubeconfig {kubeconfig}): {text}"
                          ) from None


def describe(api: client.ApiClient, kubeconfig: str, context: str, server: str, version: str,
             closers: list[Callable[[], None]], inventory: inventory_mod.Inventory | None = None
             ) -> AttachedLab:
    """The cluster as its API describes it (Nodes, control planes, CIDRs,
    versions), with the inventory's hosts reached over ssh."""
    core = client.CoreV1Api(api)
    try:
        nodes = core.list_node(_request_timeout=REQUEST_TIMEOUT_S).items
        serving = apiserver_addresses(api)
        service_cidrs = tuple(ipaddress.ip_network(c) for s in client.NetworkingV1Api(api)
                              .list_service_cidr(_request_timeout=REQUEST_TIMEOUT_S).items
                              for c in s.spec.cidrs or ())
    except ApiException as exc:
        raise AttachError(f"the apiserver {server} (kubeconfig {kubeconfig}) answered "
                          f"{exc.status} {exc.reason} when asked for the cluster's nodes") from None
    specs, planes = {}, []
    for node in nodes:
        addresses = [ipaddress.ip_address(a.address) for a in node.status.addresses or ()
                     if a.type == "InternalIP"]
        plane = bool({str(a) for a in addresses} & serving)
        specs[node.metadata.name] = HostSpec(
            node.metadata.name, ("master",) if plane else ("node",),
            {NODES_NETWORK: {("ipv4" if a.version == 4 else "ipv6"): a for a in addresses}})
        if plane:
            planes.append(node.metadata.name)
    pod_cidrs = tuple(ipaddress.ip_network(c) for n in nodes for c in n.spec.pod_cidrs or ())
    topology = Topology(
        name=f"attached:{context}", source=kubeconfig, setup="attached",
        description=f"the cluster of kubeconfig {kubeconfig}, context {context}",
        networks={NODES_NETWORK: Network(NODES_NETWORK, *covering([a for s in specs.values()
                                                                    for a in s.addresses[NODES_NETWORK].values()]))},
        hosts=specs, service_cidrs=service_cidrs, pod_cidrs=pod_cidrs, domain="cluster.local")
    lab_id = f"attached-{secrets.token_hex(3)}"
    hosts: dict[str, Host] = {name: ApiOnlyHost(spec, lab_id) for name, spec in specs.items()}
    if inventory is not None:
        hosts.update(ssh_hosts(inventory, specs, lab_id))
        planes = [n for n in inventory.roles if set(inventory.roles[n]) & CONTROL_PLANE_ROLES] or planes
        by_network: dict[str, list] = {}
        for h in hosts.values():
            for net, fams in h.spec.addresses.items():
                by_network.setdefault(net, []).extend(fams.values())
        topology = dataclasses.replace(
            topology, hosts={n: h.spec for n, h in hosts.items()}, setup=inventory.setup or "attached",
            networks={net: Network(net, *covering(addresses)) for net, addresses in by_network.items()})
    versions = {"kubernetes": version, **coredns_version(api)}
    return AttachedLab(lab_id, kubeconfig, context, server, api, topology, hosts, planes,
                       versions, closers, inventory, frozenset(specs))


def ssh_hosts(inventory: inventory_mod.Inventory, specs: dict[str, HostSpec], lab_id: str
              ) -> dict[str, Host]:
    """The inventory's hosts, each answering over ssh (else AttachError):
    roles from the inventory, addresses from its Node (or its ssh address)."""
    hosts = {}
    node_addresses = [a for s in specs.values() for a in s.addresses.get(NODES_NETWORK, {}).values()]
    try:
        for name, ssh in inventory.ssh.items():
            hosts[name] = host = inventory_mod.SshHost(HostSpec(name, inventory.roles[name], {}), lab_id,
                                                       ssh, inventory.backend)
            try:
                answer = host.exec(["ip", "-j", "addr", "show"], timeout=inventory_mod.CONNECT_TIMEOUT_S + 20)
            except subprocess.TimeoutExpired:
                answer = CommandResult(name, "ip", 255, "", "timed out")
            if answer.rc == 255:   # ssh's own failure
                said = (answer.stderr.strip().splitlines() or [f"rc={answer.rc}"])[-1]
                raise AttachError(f"inventory {inventory.source}: host {name} "
                                  f"({ssh.url('ssh')}) refused: {said}")
            host.spec = HostSpec(name, inventory.roles[name],
                                 host_addresses(specs.get(name), ssh.address, answer, node_addresses))
    except BaseException:
        for made in hosts.values():  # the connections made so far
            made.disconnect()
        raise
    return hosts


def host_addresses(node: HostSpec | None, ssh_address: str, links: CommandResult,
                   node_addresses: list = ()) -> dict:
    """{network: {family: address}}: the global addresses of the link that
    holds the Node's InternalIP (or the ssh address), as the host shows them.
    The network is NODES_NETWORK for a Node or a host on a Node's subnet;
    another host (a client on a public network) is on a network named by its
    subnets, which it shares with no Node."""
    known = [str(a) for a in (node.addresses.get(NODES_NETWORK, {}).values() if node else ())]
    known = known or [ssh_address]
    try:
        found = json.loads(links.stdout) if links.ok else []
    except ValueError:
        found = []
    for link in found:
        mine = [a for a in link.get("addr_info", []) if a.get("scope") == "global"]
        if any(a.get("local") in known for a in mine):
            by_family: dict = {}
            for a in mine:
                ip = ipaddress.ip_address(a["local"])
                by_family.setdefault("ipv4" if ip.version == 4 else "ipv6", ip)
            subnets = sorted({str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network)
                              for a in mine})
            on_nodes = node is not None or any(ipaddress.ip_address(str(n)) in ipaddress.ip_network(s)
                                               for n in node_addresses for s in subnets
                                               if ipaddress.ip_address(str(n)).version ==
                                               ipaddress.ip_network(s).version)
            return {NODES_NETWORK if on_nodes else " ".join(subnets): by_family}
    return dict(node.addresses) if node else {}


def cluster_dns(api: client.ApiClient) -> str | None:
    """The address of the cluster DNS (the kube-dns Service's), if there is one."""
    try:
        found = client.CoreV1Api(api).list_namespaced_service(
            "kube-system", label_selector="k8s-app=kube-dns", _request_timeout=REQUEST_TIMEOUT_S).items
    except ApiException:
        return None
    return next((s.spec.cluster_ip for s in found if s.spec.cluster_ip not in (None, "None")), None)


def coredns_version(api: client.ApiClient) -> dict[str, str]:
    """{"coredns": tag} from the cluster DNS's Deployment (k8s-app=kube-dns), if there is one."""
    try:
        found = client.AppsV1Api(api).list_namespaced_deployment(
            "kube-system", label_selector="k8s-app=kube-dns", _request_timeout=REQUEST_TIMEOUT_S).items
    except ApiException:
        return {}
    images = [c.image for d in found for c in d.spec.template.spec.containers if ":" in c.image]
    return {"coredns": images[0].rsplit(":", 1)[1]} if images else {}


def apiserver_addresses(api: client.ApiClient) -> set[str]:
    """The addresses the apiservers serve on (the `kubernetes` Service's endpoints)."""
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes",
        _request_timeout=REQUEST_TIMEOUT_S)
    return {a for s in slices.items for e in s.endpoints or () for a in e.addresses}


def covering(addresses: list) -> tuple:
    """(IPv4 network, IPv6 network): the smallest of each family holding every address."""
    found = []
    for version, bits in ((4, 32), (6, 128)):
        mine = [a for a in addresses if a.version == version]
        if not mine:
            found.append(None)
            continue
        prefix = bits
        while not all(a in ipaddress.ip_network(f"{mine[0]}/{prefix}", strict=False) for a in mine):
            prefix -= 1
        found.append(ipaddress.ip_network(f"{mine[0]}/{prefix}", strict=False))
    return tuple(found)
