"""Topology files: load, validate, allocate addresses.

A topology says which hosts a setup needs, with which roles, on which
networks. Validation happens entirely before anything is created, and the
first problem found is reported as one error naming the file and the key.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.model.setups import KNOWN_ROLES, OPTIONS, SETUPS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
# a network's name is also the interface name inside each host (<= 15 chars)
NETWORK_NAME = re.compile(r"^[a-z][a-z0-9]{0,10}$")
FAMILIES = ("ipv4", "ipv6")

TOP_KEYS = {"name", "description", "setup", "ssh", "networks", "cluster", "hosts", "options"}
NETWORK_KEYS = {"name", "ipv4", "ipv6"}
CLUSTER_KEYS = {"service_cidr", "pod_cidr", "domain"}
HOST_KEYS = {"name", "roles", "networks", "ssh"}


class TopologyError(ValueError):
    """A topology file is invalid. The message names the file and the key."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key = source, key
        super().__init__(f"{source}: {key}: {message}")


@dataclass(frozen=True)
class Network:
    name: str
    ipv4: ipaddress.IPv4Network | None
    ipv6: ipaddress.IPv6Network | None

    def cidr(self, family: str) -> IPNetwork | None:
        return getattr(self, family)

    @property
    def families(self) -> list[str]:
        return [f for f in FAMILIES if self.cidr(f) is not None]


@dataclass(frozen=True)
class HostSpec:
    name: str
    roles: tuple[str, ...]
    #: network name -> {"ipv4": address, "ipv6": address}, allocated where not given
    addresses: dict[str, dict[str, IPAddress]]
    ssh: bool = False

    def address(self, network: str, family: str = "ipv4") -> IPAddress | None:
        return self.addresses.get(network, {}).get(family)


@dataclass(frozen=True)
class Topology:
    name: str
    source: str
    setup: str
    description: str
    networks: dict[str, Network]
    hosts: dict[str, HostSpec]
    service_cidrs: tuple[IPNetwork, ...]
    pod_cidrs: tuple[IPNetwork, ...]
    domain: str
    options: dict[str, Any] = field(default_factory=dict)
    ssh: bool = False

    def only(self, *names: str) -> Topology:
        """Part of this topology: the named hosts, all networks (a lab of a
        few hosts, for backends where each host is costly, such as VMs)."""
        unknown = [n for n in names if n not in self.hosts]
        if unknown or not names:
            raise KeyError(f"topology {self.name} has no host(s) {', '.join(unknown) or '(none given)'}"
                           f" (its hosts: {', '.join(self.hosts)})")
        return replace(self, hosts={n: self.hosts[n] for n in names})

    def with_role(self, role: str) -> list[HostSpec]:
        return [h for h in self.hosts.values() if role in h.roles]

    @property
    def families(self) -> list[str]:
        return [f for f in FAMILIES if any(n.cidr(f) for n in self.networks.values())]

    def to_dict(self) -> dict[str, Any]:
        """The resolved topology (addresses allocated), loadable again with from_dict."""
        return {
            "name": self.name, "description": self.description, "setup": self.setup,
            "ssh": self.ssh, "options": self.options,
            "networks": [{"name": n.name, **{f: str(n.cidr(f)) for f in n.families}}
                         for n in self.networks.values()],
            "cluster": {"service_cidr": [str(c) for c in self.service_cidrs],
                        "pod_cidr": [str(c) for c in self.pod_cidrs], "domain": self.domain},
            "hosts": [{"name": h.name, "roles": list(h.roles), "ssh": h.ssh,
                       "networks": {net: {f: str(a) for f, a in fams.items()}
                                    for net, fams in h.addresses.items()}}
                      for h in self.hosts.values()],
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; we refuse them."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(path: str | Path) -> Topology:
    """Load and validate a topology file. Raises TopologyError."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(source, "(file)", f"cannot read: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise TopologyError(source, "(yaml)", str(exc).replace("\n", " ")) from exc
    return from_dict(data, source=source, default_name=path.stem)


def from_dict(data: Any, source: str = "<topology>", default_name: str = "lab") -> Topology:
    return _Validator(source).topology(data, default_name)


def from_record(data: Any, source: str) -> Topology:
    """The topology a provisioner stored with a lab (Topology.to_dict), checked
    like a file except for the setup's role counts: a lab may hold part of a
    topology (Topology.only)."""
    return _Validator(source, check_role_counts=False).topology(data, "lab")


class _Validator:
    def __init__(self, source: str, check_role_counts: bool = True):
        self.source = source
        self.check_role_counts = check_role_counts

    def fail(self, key: str, message: str) -> None:
        raise TopologyError(self.source, key, message)

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str] = frozenset()):
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, got {type(value).__name__}")
        for k in value:
            if k not in allowed:
                name = k if isinstance(k, str) and k else repr(k)
                self.fail(f"{key}.{name}" if key else name,
                          f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for k in sorted(required):
            if k not in value:
                self.fail(f"{key}.{k}" if key else k, "is required")
        return value

    def one_of(self, value: Any, key: str, what: str, known) -> str:
        """A name that must be one of `known` (a name is a string: YAML may
        give a list or a mapping where one was meant)."""
        if not isinstance(value, str) or value not in known:
            self.fail(key, f"unknown {what} {value!r} (known: {', '.join(sorted(known))})")
        return value

    def cidr(self, value: Any, key: str) -> IPNetwork:
        try:
            return ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            self.fail(key, f"not a network in CIDR form: {exc}")

    def cidrs(self, value: Any, key: str) -> tuple[IPNetwork, ...]:
        items = value if isinstance(value, list) else [value]
        return tuple(self.cidr(v, f"{key}[{i}]" if isinstance(value, list) else key)
                     for i, v in enumerate(items))

    def topology(self, data: Any, default_name: str) -> Topology:
        if data is None:
            self.fail("(file)", "is empty")
        if not isinstance(data, dict):
            self.fail("(file)", f"must be a mapping of topology keys, got {type(data).__name__}")
        self.mapping(data, "", TOP_KEYS, {"setup", "networks", "hosts", "cluster"})
        setup = self.one_of(data["setup"], "setup", "setup", SETUPS)
        spec = SETUPS[setup]
        name = str(data.get("name", default_name))
        if not re.match(r"^[a-z][a-z0-9-]{0,23}$", name):
            self.fail("name", f"{name!r} must be lowercase letters, digits and '-', at most 24")
        networks = self.networks(data["networks"])
        service, pod, domain = self.cluster(data["cluster"])
        self.overlaps(networks, service, pod)
        hosts = self.hosts(data["hosts"], networks)
        self.role_counts(hosts, spec)
        if spec.ipv6_only:
            for net in networks.values():
                if net.ipv4 is not None:
                    self.fail(f"networks.{net.name}.ipv4",
                              f"setup {setup} is IPv6 only (seed {spec.seed}): no IPv4 network allowed")
            for i, c in enumerate(service + pod):
                if c.version == 4:
                    self.fail("cluster", f"setup {setup} is IPv6 only: {c} is IPv4")
        options = self.options(data.get("options") or {}, setup)
        ssh = data.get("ssh", False)
        if not isinstance(ssh, bool):
            self.fail("ssh", "must be true or false")
        return Topology(name=name, source=self.source, setup=setup,
                        description=str(data.get("description", "")), networks=networks,
                        hosts=hosts, service_cidrs=service, pod_cidrs=pod, domain=domain,
                        options=options, ssh=ssh)

    def options(self, value: Any, setup: str) -> dict[str, Any]:
        """Each option known, meant for this setup, and of a value it takes."""
        if not isinstance(value, dict):
            self.fail("options", "must be a mapping")
        for name, given in value.items():
            option = OPTIONS.get(name)
            if option is None:
                self.fail(f"options.{name}", f"unknown option (known: {', '.join(sorted(OPTIONS))})")
            if setup not in option.setups:
                self.fail(f"options.{name}", f"not an option of setup {setup} "
                                             f"(only of {', '.join(sorted(option.setups))})")
            wrong = option.check(given)
            if wrong:
                self.fail(f"options.{name}", f"{given!r} {wrong}")
        return value

    def networks(self, value: Any) -> dict[str, Network]:
        if not isinstance(value, list) or not value:
            self.fail("networks", "must be a non-empty list")
        networks: dict[str, Network] = {}
        for i, item in enumerate(value):
            key = f"networks[{i}]"
            self.mapping(item, key, NETWORK_KEYS, {"name"})
            name = item["name"]
            if not isinstance(name, str) or not NETWORK_NAME.match(name):
                self.fail(f"{key}.name", f"{name!r} must match {NETWORK_NAME.pattern} "
                          "(it names an interface in each host)")
            if name in networks:
                self.fail(f"{key}.name", f"duplicate network name {name!r}")
            cidrs = {}
            for fam, version in (("ipv4", 4), ("ipv6", 6)):
                if fam in item:
                    c = self.cidr(item[fam], f"networks.{name}.{fam}")
                    if c.version != version:
                        self.fail(f"networks.{name}.{fam}", f"{c} is not an {fam} network")
                    if c.num_addresses < 4:
                        self.fail(f"networks.{name}.{fam}", f"{c} is too small for hosts")
                    if c.is_loopback or c.is_multicast or c.is_link_local:
                        self.fail(f"networks.{name}.{fam}", f"{c} is loopback, multicast or link-local")
                    cidrs[fam] = c
            if not cidrs:
                self.fail(key, "needs an ipv4 and/or an ipv6 CIDR")
            networks[name] = Network(name, cidrs.get("ipv4"), cidrs.get("ipv6"))
        return networks

    def cluster(self, value: Any) -> tuple[tuple[IPNetwork, ...], tuple[IPNetwork, ...], str]:
        self.mapping(value, "cluster", CLUSTER_KEYS, {"service_cidr", "pod_cidr"})
        service = self.cidrs(value["service_cidr"], "cluster.service_cidr")
        pod = self.cidrs(value["pod_cidr"], "cluster.pod_cidr")
        domain = value.get("domain", "cluster.local")
        if not isinstance(domain, str) or not re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$", domain):
            self.fail("cluster.domain", f"{domain!r} is not a DNS domain")
        for s in service:
            for p in pod:
                if s.version == p.version and s.overlaps(p):
                    self.fail("cluster.pod_cidr", f"{p} overlaps the service network {s}")
        return service, pod, domain

    def overlaps(self, networks: dict[str, Network], service, pod) -> None:
        """Seed 000: the service and pod networks "must not overlap with existing networks"."""
        seen: list[tuple[str, IPNetwork]] = []
        for net in networks.values():
            for fam in net.families:
                c = net.cidr(fam)
                for other_key, other in seen:
                    if other.version == c.version and other.overlaps(c):
                        self.fail(f"networks.{net.name}.{fam}", f"{c} overlaps {other_key} ({other})")
                for label, cluster in (("cluster.service_cidr", service), ("cluster.pod_cidr", pod)):
                    for cc in cluster:
                        if cc.version == c.version and cc.overlaps(c):
                            self.fail(f"networks.{net.name}.{fam}",
                                      f"{c} overlaps {label} {cc}: the service and pod networks "
                                      "must not overlap with existing networks (seed 000)")
                seen.append((f"networks.{net.name}.{fam}", c))

    def hosts(self, value: Any, networks: dict[str, Network]) -> dict[str, HostSpec]:
        if not isinstance(value, list) or not value:
            self.fail("hosts", "must be a non-empty list")
        raw: list[tuple[str, tuple[str, ...], dict, bool]] = []
        names: set[str] = set()
        taken: dict[IPAddress, str] = {}
        for i, item in enumerate(value):
            key = f"hosts[{i}]"
            self.mapping(item, key, HOST_KEYS, {"name", "networks"})
            name = item["name"]
            if not isinstance(name, str) or not HOST_NAME.match(name):
                self.fail(f"{key}.name", f"{name!r} must match {HOST_NAME.pattern}")
            if name in names:
                self.fail(f"{key}.name", f"duplicate host name {name!r}")
            names.add(name)
            roles = item.get("roles") or []
            if not isinstance(roles, list):
                self.fail(f"hosts.{name}.roles", "must be a list")
            for role in roles:
                self.one_of(role, f"hosts.{name}.roles", "role", KNOWN_ROLES)
            nets = item["networks"]
            if isinstance(nets, list):
                nets = {self.one_of(n, f"hosts.{name}.networks", "network", networks): None
                        for n in nets}
            if not isinstance(nets, dict) or not nets:
                self.fail(f"hosts.{name}.networks", "must name at least one network")
            given: dict[str, dict[str, IPAddress]] = {}
            for net_name, addrs in nets.items():
                nkey = f"hosts.{name}.networks.{net_name}"
                if net_name not in networks:
                    self.fail(nkey, f"unknown network (defined: {', '.join(networks)})")
                addrs = self.mapping(addrs or {}, nkey, set(FAMILIES))
                given[net_name] = {}
                for fam, text in addrs.items():
                    akey = f"{nkey}.{fam}"
                    cidr = networks[net_name].cidr(fam)
                    if cidr is None:
                        self.fail(akey, f"network {net_name} has no {fam} CIDR")
                    try:
                        addr = ipaddress.ip_address(str(text))
                    except ValueError:
                        self.fail(akey, f"{text!r} is not an IP address")
                    if addr not in cidr or addr in (cidr.network_address, cidr.broadcast_address):
                        self.fail(akey, f"{addr} is outside network {net_name} ({cidr}) "
                                  "or is its network/broadcast address")
                    if addr in taken:
                        self.fail(akey, f"duplicate address {addr} (also on host {taken[addr]})")
                    taken[addr] = name
                    given[net_name][fam] = addr
            ssh = item.get("ssh", False)
            if not isinstance(ssh, bool):
                self.fail(f"hosts.{name}.ssh", "must be true or false")
            raw.append((name, tuple(roles), given, ssh))
        return {name: HostSpec(name, roles, self.allocate(name, given, networks, taken), ssh)
                for name, roles, given, ssh in raw}

    def allocate(self, host: str, given: dict, networks: dict[str, Network], taken: dict) -> dict:
        """Give the host an address in every family of each of its networks."""
        out: dict[str, dict[str, IPAddress]] = {}
        for net_name, addrs in given.items():
            out[net_name] = dict(addrs)
            for fam in networks[net_name].families:
                if fam in addrs:
                    continue
                cidr = networks[net_name].cidr(fam)
                for candidate in cidr.hosts():
                    if candidate not in taken:
                        taken[candidate] = host
                        out[net_name][fam] = candidate
                        break
                else:
                    self.fail(f"hosts.{host}.networks.{net_name}", f"network {cidr} is full")
        return out

    def role_counts(self, hosts: dict[str, HostSpec], spec) -> None:
        for name, host in hosts.items():
            for role in host.roles:
                if role not in spec.roles:
                    self.fail(f"hosts.{name}.roles",
                              f"role {role!r} is not a role of setup {spec.name} "
                              f"(its roles: {', '.join(sorted(spec.roles))})")
        for role, (low, high) in spec.role_counts.items() if self.check_role_counts else ():
            count = sum(role in h.roles for h in hosts.values())
            if count < low or (high is not None and count > high):
                want = f"exactly {low}" if low == high else (
                    f"at least {low}" if high is None else f"{low} to {high}")
                self.fail("hosts", f"setup {spec.name} needs {want} host(s) with role {role!r} "
                          f"(seed {spec.seed}), found {count}")
            if role in spec.odd_roles and count % 2 == 0:
                self.fail("hosts", f"setup {spec.name} needs an odd number of {role!r} hosts "
                          f"for etcd quorum (seed {spec.seed}), found {count}")


#: the topology used when none is given
DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[2] / "fixtures" / "topologies" / "fcio-k8s.yaml"


def resolve_path(value: str | None) -> Path:
    """A topology file: a path, or a name under fixtures/topologies (None: the default)."""
    if not value:
        return DEFAULT_TOPOLOGY
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    return DEFAULT_TOPOLOGY.parent / f"{value}.yaml"
