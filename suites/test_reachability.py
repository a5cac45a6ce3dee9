"""Pod network reachability, as a matrix of (source, destination, expected)
in the style of a connectivity test: an expected deny that succeeds fails.

Sources: a pod on the same node, a pod on another node, the nodes, the
frontends, the BGP router, and hosts with no Kubernetes role (seed 001:
"non-Kubernetes VMs can not access the cluster network directly").
Per data plane: host-gw routes (seed 001), vxlan on the wire (seed 003),
BGP routes, withdrawal and return on the router (seed 004).
"""
from __future__ import annotations

import json
import ipaddress
import shlex
import subprocess

import pytest

from harness.lab.net import bracketed
from harness.lab.wait import wait_until

#: pods a and b on the first worker, c on the second (or the only one)
PLACEMENT = {"a": 0, "b": 0, "c": 1}


@pytest.fixture(scope="module")
def pods(target):
    nodes = target.workers[:2]
    made = {}
    try:
        for name, index in PLACEMENT.items():
            made[name] = target.workload.pod(nodes[min(index, len(nodes) - 1)], name,
                                             target.namespace)
        for pod in made.values():
            wait_until(lambda: pod.run(f"ss -Hltn 'sport = :{pod.port}' | grep -q .").ok,
                       f"pod {pod.name} to listen on {pod.port}", timeout=20)
        yield made
    finally:
        for pod in made.values():
            target.workload.delete_pod(pod)


def url(pod) -> str:
    return f"http://{bracketed(pod.ips[0])}:{pod.port}/"


def fetch(source, pod):
    return source.run(shlex.join(["curl", "-sS", "-m", "3", url(pod)]), timeout=10)


def assert_reachability(source_name: str, source, dest, allowed: bool) -> None:
    result = fetch(source, dest)
    reached = result.ok and result.stdout.strip() == dest.name
    if allowed:
        assert reached, f"{source_name} could not reach {dest} at {url(dest)}: {result.summary()}"
    else:
        assert not result.ok, (f"{source_name} reached {dest} at {url(dest)} but the cluster "
                               f"network must be closed to it (answer: {result.stdout.strip()!r})")


@pytest.mark.requires("pod-network")
@pytest.mark.parametrize("source, dest", [("a", "b"), ("a", "c"), ("c", "a")],
                         ids=["pod:a->pod:b", "pod:a->pod:c", "pod:c->pod:a"])
def test_pod_reaches_pod(source, dest, pods):
    """Pods reach each other on the same node and across nodes."""
    if pods[source].node is pods[dest].node and {source, dest} != {"a", "b"}:
        pytest.skip("needs two workers")
    assert_reachability(f"pod:{source}", pods[source], pods[dest], True)


@pytest.mark.requires("pod-network")
def test_host_reaches_pods_only_on_the_cluster_network(host_name, target, pods):
    """Hosts of the cluster network (nodes with a pod subnet, the frontend /
    webgateway; with BGP, the router that learns the pod blocks) reach pods
    directly; everyone else is denied (seed 001: "non-Kubernetes VMs can not
    access the cluster network directly")."""
    dest = pods["a"]
    if host_name == dest.node.name:
        pytest.skip(f"{host_name} hosts the pod")
    host = target.lab.host(host_name)
    if target.pod_network.reaches_pods(host):
        assert_reachability(f"host:{host_name}", host, dest, True)
        return
    if host in target.cluster_hosts:
        # a Kubernetes host left out of the pod network (seed 003 runs no
        # flannel on the master): denied because its kernel has no route there
        found = host.run(shlex.join(["ip", "route", "get", dest.ips[0]]))
        assert not found.ok and "unreachable" in found.stderr, \
            f"{host_name} routes {dest.ips[0]}: {found.summary()}"
        assert_reachability(f"host:{host_name}", host, dest, False)
        return
    # a deny only means something where a route would carry the traffic: the
    # host is given one to the pod via its node (as a default route to a
    # router would), and the cluster network must still refuse it
    family = 6 if ":" in dest.ips[0] else 4
    shared = next((n for n in host.spec.addresses if n in dest.node.spec.addresses), None)
    if shared is None:
        pytest.skip(f"{host_name} shares no network with {dest.node.name}: no route to give it, "
                    "no deny to check")
    via = dest.node.address(shared, "ipv6" if family == 6 else "ipv4")

    def route(verb: str) -> str:
        return shlex.join(["ip", f"-{family}", "route", verb, dest.ips[0], "via", via])
    host.succeed(route("replace"))
    try:
        assert host.routes(family, dest.ips[0])[0]["gateway"] == via, host.routes(family, dest.ips[0])
        assert_reachability(f"host:{host_name} (routed via {dest.node.name})", host, dest, False)
    finally:
        host.succeed(route("del"))


@pytest.mark.requires("host-gw")
def test_host_gw_routes_are_the_other_nodes_subnets(lab, target, host_name):
    """seed 001, flannel host-gw on the SRV network: each cluster host routes
    exactly the other nodes' subnets, each via that node's SRV address."""
    topology = lab.topology
    host = lab.host(host_name)
    if host not in target.cluster_hosts:
        pytest.skip(f"{host_name} has no Kubernetes role")
    network = target.pod_network.routing_network
    expected = {}
    for node, subnets in target.pod_network.subnets.items():
        if node == host_name:
            continue
        net = network or next(n for n in topology.hosts[node].addresses if n in host.spec.addresses)
        for s in subnets:
            fam = "ipv4" if s.version == 4 else "ipv6"
            expected[str(s)] = (str(topology.hosts[node].address(net, fam)), net)
    routes = {}
    for family in (4, 6):
        for route in host.routes(family):
            if "gateway" in route and route["dst"] != "default" and any(
                    ipaddress.ip_network(route["dst"]).subnet_of(c)
                    for c in topology.pod_cidrs if c.version == family):
                routes[route["dst"]] = (route["gateway"], route["dev"])
    assert routes == expected


@pytest.mark.requires("vxlan", "popen")
def test_vxlan_on_the_wire(lab, pods):
    """seed 003: cross-node pod traffic is VXLAN, UDP 8472, VNI 1."""
    a, c = pods["a"], pods["c"]
    if a.node is c.node:
        pytest.skip("needs two nodes")
    # the link that holds the node's address (a lab names it after its network)
    address = c.node.address(next(iter(c.node.spec.addresses)))
    wire = next(link["ifname"] for link in c.node.links()
                if any(a.get("local") == address for a in link.get("addr_info", [])))
    capture = c.node.popen(["tcpdump", "-i", wire, "-nn", "-l", "-c", "2", "-T", "vxlan",
                            "udp", "port", "8472"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # tcpdump says "listening on ..." once its capture is open
        ready = "".join(capture.stderr.readline().decode() for _ in range(2))
        assert "listening on" in ready, f"tcpdump did not start: {ready!r}"
        assert fetch(a, c).ok
        out, err = capture.communicate(timeout=15)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.communicate()
    text = out.decode()
    assert "VXLAN" in text and "vni 1" in text, f"no VXLAN VNI 1 seen: {text!r} {err.decode()[-300:]}"
    assert ".8472:" in text
    assert a.ips[0] in text and c.ips[0] in text, f"inner packet not between the pods: {text!r}"


@pytest.mark.requires("bgp")
def test_router_learns_every_pod_block_with_its_node_as_next_hop(target):
    """seed 004: BGP to the upstream router from the private ASN, with
    keepOriginalNextHop: the router's next hop for a block is its node."""
    bgp = target.bgp
    routes, expected = bgp.kernel_routes(bgp.router), bgp.expected_router_routes()
    lacking = sorted({node for node, blocks in bgp.blocks.items() for b in blocks if b not in routes})
    assert routes == expected, (f"the router lacks the pod blocks of {lacking}: it routes {routes}, "
                                f"expected {expected}")
    paths = bgp.as_paths(bgp.router)
    for block in bgp.expected_router_routes():
        assert paths.get(block), f"router has no BGP route for {block}"
        assert all(p.split()[0] == "65534" for p in paths[block]), paths[block]


@pytest.mark.requires("bgp-service-ips", "workloads")
def test_router_routes_a_service_ip_to_a_node_and_reaches_its_pods(target):
    """seed 004's serviceClusterIPs: the router learns a Service's IP over
    BGP from the nodes (a node the next hop), and a request from the router
    to that IP is answered by the service's pods, through a node's kube-proxy."""
    bgp = target.bgp
    router = target.lab.host(bgp.router)
    nodes = {str(ipaddress.ip_address(h.address(family="ipv6"))): h.name for h in target.kubelets}
    app = target.workload("bgp-service", port=8092).scale(2)
    try:
        prefix = f"{ipaddress.ip_address(app.cluster_ip)}/128"
        wait_until(lambda: prefix in bgp.service_routes(), f"the router to learn {prefix} over BGP",
                   timeout=30, interval=0.2)
        hop = bgp.service_routes()[prefix]
        assert hop in nodes, f"the router routes {prefix} via {hop}, not a node ({sorted(nodes)})"
        got = router.run(shlex.join(["curl", "-sS", "-g", "-m", "5", f"http://{bracketed(app.cluster_ip)}:8092/"]))
        assert got.ok and got.stdout.strip() in {p.name for p in app.pods}, \
            f"{router.name} -> {app.cluster_ip}:8092 (via {nodes[hop]}): {got.summary()}"
    finally:
        app.scale(0)


@pytest.mark.destructive
@pytest.mark.requires("bgp")
def test_node_down_withdraws_its_route_within_hold_time_and_it_comes_back(lab, target):
    """Figures of these times: benchmarks/bgp.py."""
    bgp = target.bgp
    node = list(bgp.blocks)[-1]
    host = lab.host(node)
    host.block()
    try:
        wait_until(lambda: bgp.kernel_routes(bgp.router) == bgp.expected_router_routes({node}),
                   f"router to withdraw {node}'s block within the hold time ({bgp.hold_time}s)",
                   timeout=bgp.hold_time + 2, interval=0.2)
    finally:
        host.unblock()
    wait_until(bgp.converged, f"{node}'s block back on the router and the nodes", timeout=60,
               interval=0.2)


LEASES = "/atomic.io/network/subnets/"


def flannel_subnet(host) -> str | None:
    """The subnet flanneld took, as flannel.1 shows it: seed 003's "inet
    10.241.45.0/32 scope global flannel.1" is lease 10.241.45.0-24."""
    found = [a["local"] for link in host.links("dev", "flannel.1")
             for a in link.get("addr_info", []) if a.get("family") == "inet"]
    return found[0] if found else None


def leases(etcd) -> dict[str, dict]:
    listed = etcd.etcdctl(["get", "--prefix", LEASES])
    assert listed.ok, listed.summary()
    lines = listed.stdout.splitlines()
    return {key: json.loads(value) for key, value in zip(lines[0::2], lines[1::2])}


def assert_lease_matches_host(lease_by_key: dict[str, dict], host) -> None:
    subnet = flannel_subnet(host)
    assert subnet, f"{host.name} has no IPv4 address on flannel.1"
    key = f"{LEASES}{subnet}-24"
    assert key in lease_by_key, f"{host.name}'s flannel.1 is {subnet}/32 but etcd has no {key}"
    lease = lease_by_key[key]
    assert lease["BackendType"] == "vxlan"
    assert lease["PublicIP"] in {host.address(n) for n in host.spec.addresses}, lease
    assert lease["BackendData"]["VtepMAC"] == host.succeed("cat /sys/class/net/flannel.1/address").strip()


@pytest.mark.requires("vxlan", "etcd", "flannel-config")
def test_flannel_subnet_leases_are_in_etcd(target):
    """seed 003: one lease per node running flanneld under
    /atomic.io/network/subnets/, keyed like 10.241.60.0-24, naming the node's
    public IP and its flannel.1 VTEP; flannel.1 carries the lease's /32."""
    hosts = [h for h in target.cluster_hosts if target.pod_network.reaches_pods(h)]
    found = leases(target.etcd)
    for host in hosts:
        assert_lease_matches_host(found, host)
    assert len(found) == len(hosts), f"{len(found)} leases for {len(hosts)} flanneld hosts: {sorted(found)}"


@pytest.mark.destructive
@pytest.mark.requires("vxlan", "etcd", "flannel-config")
def test_a_deleted_lease_is_taken_again_when_flanneld_restarts(target):
    """seed 003: "delete the old configuration" (`etcdctl rm
    /atomic.io/network/subnets/...`) and restart flanneld: it leases a subnet
    again, and flannel.1 and the lease agree."""
    etcd, host = target.etcd, target.workers[-1]
    key = f"{LEASES}{flannel_subnet(host)}-24"
    deleted = etcd.etcdctl(["del", key])
    assert deleted.ok and deleted.stdout.strip() == "1", deleted.summary()
    host.service("flanneld").restart()
    wait_until(lambda: flannel_subnet(host) and f"{LEASES}{flannel_subnet(host)}-24" in leases(etcd),
               f"flanneld on {host.name} to lease a subnet again", timeout=30, interval=0.5)
    assert_lease_matches_host(leases(etcd), host)
