"""Topology validation: one test per rule, each checking the message names
the file, the key and the problem."""
import copy
from pathlib import Path

import pytest
import yaml

from harness.model import topology
from harness.model.topology import TopologyError

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
BASE = yaml.safe_load((TOPOLOGIES / "fcio-k8s.yaml").read_text())


def write(tmp_path, data, name="t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(tmp_path, data) -> TopologyError:
    path = write(tmp_path, data)
    with pytest.raises(TopologyError) as info:
        topology.load(path)
    assert str(path) in str(info.value), "the error must name the file"
    return info.value


def variant(mutate) -> dict:
    data = copy.deepcopy(BASE)
    mutate(data)
    return data


@pytest.mark.parametrize("name", sorted(p.stem for p in TOPOLOGIES.glob("*.yaml")))
def test_shipped_topologies_load(name):
    topo = topology.load(TOPOLOGIES / f"{name}.yaml")
    assert topo.setup == name and topo.hosts
    addresses = [a for h in topo.hosts.values() for fams in h.addresses.values() for a in fams.values()]
    assert len(addresses) == len(set(addresses)), "allocation must not hand out an address twice"
    for host in topo.hosts.values():
        for net, fams in host.addresses.items():
            assert set(fams) == set(topo.networks[net].families), f"{host.name} lacks an address on {net}"


def test_seed_000_networks():
    topo = topology.load(TOPOLOGIES / "fcio-k8s.yaml")
    assert [str(c) for c in topo.service_cidrs] == ["10.0.0.0/24"]
    assert [str(c) for c in topo.pod_cidrs] == ["10.1.0.0/16"]
    assert [h.name for h in topo.with_role("master")] == ["master"]
    assert len(topo.with_role("node")) == 3 and len(topo.with_role("frontend")) == 1


def test_unknown_top_level_key(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d.update(hostz=[])))
    assert err.key == "hostz" and "unknown key" in str(err)


def test_unknown_host_key(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["hosts"][1].update(role="node")))
    assert err.key == "hosts[1].role" and "unknown key" in str(err)


def test_unknown_network_key(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["networks"][0].update(ipv5="x")))
    assert err.key == "networks[0].ipv5"


def test_duplicate_host_name(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["hosts"].append(dict(d["hosts"][1]))))
    assert "duplicate host name 'node1'" in str(err) and err.key == "hosts[5].name"


def test_duplicate_yaml_key(tmp_path):
    text = (TOPOLOGIES / "fcio-k8s.yaml").read_text().replace(
        "setup: fcio-k8s", "setup: fcio-k8s\nsetup: k3s")
    err = error_of(tmp_path, text)
    assert "duplicate key 'setup'" in str(err)


def test_duplicate_address(tmp_path):
    err = error_of(tmp_path, variant(
        lambda d: d["hosts"][1].update(networks={"srv": {"ipv4": "192.168.21.10"}})))
    assert "duplicate address 192.168.21.10 (also on host master)" in str(err)
    assert err.key == "hosts.node1.networks.srv.ipv4"


def test_address_outside_network(tmp_path):
    err = error_of(tmp_path, variant(
        lambda d: d["hosts"][1].update(networks={"srv": {"ipv4": "10.9.9.9"}})))
    assert "10.9.9.9 is outside network srv (192.168.21.0/24)" in str(err)


def test_unknown_role(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["hosts"][1].update(roles=["worker"])))
    assert err.key == "hosts.node1.roles" and "unknown role 'worker'" in str(err)


def test_role_not_of_setup(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["hosts"][1].update(roles=["agent"])))
    assert "role 'agent' is not a role of setup fcio-k8s" in str(err)


def test_networks_overlap_each_other(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["networks"][1].update(ipv4="192.168.21.128/25")))
    assert err.key == "networks.fe.ipv4" and "overlaps networks.srv.ipv4" in str(err)


def test_network_overlaps_service_cidr(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["cluster"].update(service_cidr="192.168.0.0/16")))
    assert "overlaps cluster.service_cidr 192.168.0.0/16" in str(err)
    assert "must not overlap with existing networks (seed 000)" in str(err)


def test_network_overlaps_pod_cidr(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["cluster"].update(pod_cidr="198.51.0.0/16")))
    assert err.key == "networks.fe.ipv4" and "overlaps cluster.pod_cidr 198.51.0.0/16" in str(err)


def test_service_and_pod_cidrs_overlap(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["cluster"].update(pod_cidr="10.0.0.0/16")))
    assert err.key == "cluster.pod_cidr" and "overlaps the service network" in str(err)


def test_exactly_one_master(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["hosts"][1].update(roles=["master"])))
    assert "needs exactly 1 host(s) with role 'master' (seed 000), found 2" in str(err)


def test_at_least_one_node(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d.update(hosts=[d["hosts"][0], d["hosts"][4]])))
    assert "needs at least 1 host(s) with role 'node'" in str(err)


def test_ipv6_only_setup_refuses_ipv4(tmp_path):
    data = yaml.safe_load((TOPOLOGIES / "kubeadm-ha.yaml").read_text())
    data["networks"][0]["ipv4"] = "192.168.99.0/24"
    err = error_of(tmp_path, data)
    assert "IPv6 only" in str(err) and err.key == "networks.srv.ipv4"


def test_even_number_of_control_planes(tmp_path):
    data = yaml.safe_load((TOPOLOGIES / "kubeadm-ha.yaml").read_text())
    data["hosts"] = [h for h in data["hosts"] if h["name"] != "cp3"]
    err = error_of(tmp_path, data)
    assert "odd number of 'master' hosts for etcd quorum" in str(err)


def test_unknown_setup(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d.update(setup="openshift")))
    assert err.key == "setup" and "unknown setup 'openshift'" in str(err)


def test_not_a_cidr(tmp_path):
    err = error_of(tmp_path, variant(lambda d: d["networks"][0].update(ipv4="192.168.21.1/24")))
    assert err.key == "networks.srv.ipv4" and "not a network in CIDR form" in str(err)


def test_unreadable_file(tmp_path):
    with pytest.raises(TopologyError, match="cannot read"):
        topology.load(tmp_path / "missing.yaml")


def test_addresses_allocated_where_not_given():
    topo = topology.load(TOPOLOGIES / "fcio-k8s.yaml")
    assert str(topo.hosts["master"].address("srv")) == "192.168.21.10"
    assert str(topo.hosts["node1"].address("srv")) == "192.168.21.1"
    assert topo.hosts["node1"].address("srv", "ipv6") is not None


def test_resolved_topology_round_trips():
    topo = topology.load(TOPOLOGIES / "k3s.yaml")
    again = topology.from_dict(topo.to_dict())
    assert again.hosts == topo.hosts and again.networks == topo.networks


def test_part_of_a_topology_keeps_addresses_and_is_restored_from_its_record():
    full = topology.load(TOPOLOGIES / "fcio-k8s.yaml")
    part = full.only("master", "frontend")
    assert list(part.hosts) == ["master", "frontend"]
    assert part.hosts["frontend"].addresses == full.hosts["frontend"].addresses
    with pytest.raises(KeyError, match="no host.*nosuch"):
        full.only("master", "nosuch")
    # a file with that content breaks the setup's rules; the lab's record is what was made
    with pytest.raises(TopologyError, match="needs at least 1 host.*'node'"):
        topology.from_dict(part.to_dict(), source="file")
    restored = topology.from_record(part.to_dict(), source="lab x")
    assert restored.to_dict() == part.to_dict()
    # every other rule still holds for a record
    bad = part.to_dict()
    bad["hosts"][0]["roles"] = ["agent"]
    with pytest.raises(TopologyError, match="lab x: hosts.master.roles: role 'agent' is not a role"):
        topology.from_record(bad, source="lab x")


@pytest.mark.parametrize("options, key, problem", [
    ({"coredns": "1.9"}, "options.coredns", "'1.9' must be one of '1.8', 'current'"),
    ({"coredns": ["1.8"]}, "options.coredns", "['1.8'] must be one of '1.8', 'current'"),
    ({"bgp_hold_time": 9}, "options.bgp_hold_time", "not an option of setup fcio-k8s (only of kubeadm-ha)"),
    ({"corends": "1.8"}, "options.corends", "unknown option (known: bgp_hold_time, coredns, "),
    ("current", "options", "must be a mapping"),
])
def test_bad_option_is_a_load_error_naming_the_key(tmp_path, options, key, problem):
    error = error_of(tmp_path, variant(lambda d: d.update(options=options)))
    assert f": {key}: {problem}" in str(error)


@pytest.mark.parametrize("setup_file, options", [
    ("kubeadm-ha", {"bgp_hold_time": 2}), ("kubeadm-ha", {"bgp_hold_time": True}),
    ("k3s", {"nfs_reclaim_policy": "delete"}), ("k3s", {"nfs_archive_on_delete": "yes"}),
    ("k3s", {"webgateway_vhost": "My App"}),
])
def test_each_setups_options_are_checked(tmp_path, setup_file, options):
    data = yaml.safe_load((TOPOLOGIES / f"{setup_file}.yaml").read_text())
    data["options"] = options
    [name] = options
    assert f": options.{name}: {options[name]!r} must be" in str(error_of(tmp_path, data))
