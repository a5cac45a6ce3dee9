"""Bad topology input never crashes: the shipped topologies, mutated at
random (a value replaced by junk, a key deleted, a host duplicated), either
load or raise a TopologyError that names the file and the key."""
import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from harness.model import topology
from harness.model.topology import TopologyError

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
SHIPPED = {p.name: yaml.safe_load(p.read_text()) for p in sorted(TOPOLOGIES.glob("*.yaml"))}

#: what a careless edit or a broken generator puts in a YAML value
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=12) | st.sampled_from(["", "master", "10.0.0.0/8", "::1", "fcio-k8s", "a" * 40]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def paths(node, prefix=()):
    """Every place in the document a value sits at, as a key path."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, prefix + (i,))


def parent_of(doc, path):
    node = doc
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SHIPPED)))
    doc = copy.deepcopy(SHIPPED[name])
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in paths(doc) if p]
        kind = draw(st.sampled_from(["replace", "delete", "duplicate-host"]))
        if kind == "duplicate-host" and isinstance(doc.get("hosts"), list) and doc["hosts"]:
            doc["hosts"].append(copy.deepcopy(draw(st.sampled_from(doc["hosts"]))))
            continue
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = parent_of(doc, path)
        if kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JUNK)
    return name, doc


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_topologies_load_or_name_file_and_key(case):
    name, doc = case
    source = f"fixtures/topologies/{name}"
    try:
        topo = topology.from_dict(doc, source=source, default_name=name.removesuffix(".yaml"))
    except TopologyError as exc:
        assert exc.source == source and exc.key, exc
        assert str(exc).startswith(f"{source}: {exc.key}: "), exc
        return
    # what loaded must be a lab that can be made: checked here, not by the loader
    assert topo.hosts and topo.networks
    taken = set()
    for host in topo.hosts.values():
        assert host.addresses, f"{host.name} is on no network"
        for net, by_family in host.addresses.items():
            for family, address in by_family.items():
                cidr = topo.networks[net].cidr(family)
                assert cidr is not None and address in cidr, f"{host.name}: {address} outside {net} {cidr}"
                assert (net, address) not in taken, f"{address} given twice on {net}"
                taken.add((net, address))
    cluster = topo.service_cidrs + topo.pod_cidrs
    lab_cidrs = [c for n in topo.networks.values() for f in n.families if (c := n.cidr(f))]
    assert not [(a, b) for a in cluster for b in cluster + tuple(lab_cidrs)
                if a is not b and a.version == b.version and a.overlaps(b)], "overlapping networks loaded"
    assert topology.from_dict(topo.to_dict(), source=source).to_dict() == topo.to_dict()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SHIPPED)), JUNK)
def test_whole_document_replaced_by_junk(name, junk):
    with pytest.raises(TopologyError) as refused:
        topology.from_dict(junk, source=name)
    assert refused.value.source == name and refused.value.key
