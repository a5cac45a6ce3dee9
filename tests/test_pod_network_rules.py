"""Topology rules for the cluster networks (seeds 000 and 001) and the pure
parts of the pod network data planes (no lab needed)."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.setups.parts.pod_network import bgp

from harness.setups.parts.pod_network import flannel
from harness.setups.parts.pod_network.subnets import PREFIX_LEN, node_subnets
from harness.model.topology import from_dict, load

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
HARNESS = Path(sys.executable).parent / "harness"


def k3s(**cluster):
    return {"name": "t", "setup": "k3s",
            "networks": [{"name": "srv", "ipv4": "192.168.31.0/24"}],
            "cluster": {"service_cidr": "10.43.0.0/16", "pod_cidr": "10.42.0.0/16", **cluster},
            "hosts": [{"name": "server", "roles": ["server"], "networks": ["srv"]},
                      {"name": "agent1", "roles": ["agent"], "networks": ["srv"]}]}


@pytest.mark.parametrize("cluster", [{"pod_cidr": "192.168.0.0/16"},
                                     {"service_cidr": "192.168.31.0/25"},
                                     {"pod_cidr": "10.43.0.0/17"}])
def test_cluster_network_overlap_is_refused_before_anything_is_made(cluster, tmp_path):
    """As a user meets it: `harness up` of such a file says what overlaps and
    leaves no lab and no namespace behind."""
    from provisioners.netns import NETNS_DIR, NetnsProvisioner
    path = tmp_path / "overlap.yaml"
    path.write_text(json.dumps(k3s(**cluster)))
    labs_before, netns_before = NetnsProvisioner().list(), sorted(NETNS_DIR.glob("hl.*"))
    up = subprocess.run([str(HARNESS), "up", str(path)], capture_output=True, text=True)
    assert up.returncode == 2 and f"{path}: " in up.stderr and "overlaps" in up.stderr, up.stderr
    assert NetnsProvisioner().list() == labs_before
    assert sorted(NETNS_DIR.glob("hl.*")) == netns_before


def capacity(pod_cidr) -> tuple[int, int]:
    """(nodes, pods per node) a pod CIDR allows with the per-node prefix.
    The first subnet, and in each subnet the network, gateway and broadcast
    addresses, are not usable for pods."""
    per_node = PREFIX_LEN[pod_cidr.version]
    nodes = 2 ** (per_node - pod_cidr.prefixlen) - 1
    pods = 2 ** (pod_cidr.max_prefixlen - per_node) - 3
    return nodes, pods


def test_seed_001_253_nodes_by_253_pods():
    topo = load(TOPOLOGIES / "k3s.yaml")
    assert capacity(topo.pod_cidrs[0]) == (255, 253)
    # 253 nodes fit: the /16 gives 255 usable /24s
    hosts = [{"name": "server", "roles": ["server"], "networks": ["srv"]}] + [
        {"name": f"a{i}", "roles": ["agent"], "networks": ["srv"]} for i in range(252)]
    big = from_dict({**k3s(), "networks": [{"name": "srv", "ipv4": "192.168.0.0/22"}],
                     "hosts": hosts})
    subnets = node_subnets(big)
    flat = [s[0] for s in subnets.values()]
    assert len(flat) == 253 and len(set(flat)) == 253
    assert all(s.prefixlen == 24 and s.num_addresses - 3 == 253 for s in flat)
    assert ipaddress.ip_network("10.42.0.0/24") not in flat


def test_host_gw_routes_are_every_other_node_via_its_srv_address():
    topo = load(TOPOLOGIES / "k3s.yaml")
    subnets = node_subnets(topo)
    routes = flannel.host_gw_routes(topo, subnets, "agent1", "srv")
    expected = {str(s[0]) for n, s in subnets.items() if n != "agent1"}
    assert {str(r.subnet) for r in routes if r.subnet.version == 4} == expected
    assert all(r.dev == "srv" for r in routes)
    assert {r.via for r in routes if r.subnet.version == 4} == {
        str(topo.hosts[n].address("srv", "ipv4")) for n in subnets if n != "agent1"}


def test_flannel_lease_format():
    subnet = ipaddress.ip_network("10.241.45.0/24")
    assert flannel.lease_key(subnet) == "/atomic.io/network/subnets/10.241.45.0-24"
    assert json.loads(flannel.lease_value("10.146.47.110", "0e:f1:00:00:00:01")) == {
        "PublicIP": "10.146.47.110", "BackendType": "vxlan",
        "BackendData": {"VtepMAC": "0e:f1:00:00:00:01"}}


def test_bird_configs_parse_with_bird(tmp_path):
    """Every rendered BIRD config is accepted by `bird -p`, and the router
    export keeps the original next hop (keepOriginalNextHop)."""
    import subprocess
    topo = load(TOPOLOGIES / "kubeadm-ha.yaml")
    names = list(topo.hosts)
    subs = node_subnets(topo)
    nodes = [(n, names.index(n), str(topo.hosts[n].address("srv", "ipv6")), [str(s) for s in subs[n]])
             for n in subs]
    speakers = bgp.mesh(nodes, ("router1", 6, "2001:db8:10:1::50"))
    for name, sp in speakers.items():
        conf = bgp.render(sp, ["2001:db8:10:2::/64"], 9)
        path = tmp_path / f"{name}.conf"
        path.write_text(conf)
        result = subprocess.run(["bird", "-p", "-c", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        if name != "router1":
            assert conf.count("protocol bgp") == 6 and "next hop keep" in conf
