"""The docker provisioner against a real dockerd (started by .ci/start-daemons).

One small lab (3 hosts, 2 networks, IPv4+IPv6) serves the Host API tests;
the lifecycle tests make their own labs and check, by their labels only,
that nothing of them is left. tests/test_podman.py runs every test here
again against podman's docker-compatible socket (its own `provisioner`).
"""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from harness.model.topology import from_dict


from provisioners.docker import LABEL, DockerProvisioner  # noqa: E402
from tests.conftest import default_routes  # noqa: E402

SMALL = {
    "name": "dsmall", "setup": "k3s",
    "networks": [{"name": "srv", "ipv4": "192.168.31.0/24", "ipv6": "fd00:31::/64"},
                 {"name": "fe", "ipv4": "192.0.2.0/24"}],
    "cluster": {"service_cidr": "10.43.0.0/16", "pod_cidr": "10.42.0.0/16"},
    "hosts": [{"name": "frontend", "roles": ["frontend"], "networks": ["fe", "srv"]},
              {"name": "server", "roles": ["server"], "networks": ["srv"]},
              {"name": "agent1", "roles": ["agent"], "networks": ["srv"]}],
}


def root_network_state() -> dict:
    """Forwarding in the machine's own namespace and its NAT rules (libvirtd's
    chains aside: another daemon of this machine, not the engine under test)."""
    state = {path: Path(path).read_text().strip() for path in (
        "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")}
    for tool in ("iptables", "ip6tables"):
        rules = subprocess.run([tool, "-t", "nat", "-S"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        state[f"{tool} -t nat"] = sorted(r for r in rules if "LIBVIRT" not in r)
    return state


@pytest.fixture(scope="module", autouse=True)
def nothing_routes_out_of_the_machine():
    """No forwarding turned on, no NAT rule added by the engine, whatever the tests did."""
    before = root_network_state()
    assert before["/proc/sys/net/ipv4/ip_forward"] == "0", "forwarding is on before the tests"
    yield
    assert root_network_state() == before


def objects_of(client, lab_id: str) -> list[str]:
    """Every docker object carrying the lab's label, by kind and name."""
    selector = {"label": f"{LABEL}={lab_id}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in client.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=selector)])


@pytest.fixture(scope="module")
def provisioner():
    prov = DockerProvisioner()
    if not prov.available():
        pytest.fail("no docker engine answers: run .ci/start-daemons docker")
    return prov


@pytest.fixture(scope="module")
def topo():
    return from_dict(SMALL, source="test_docker")


@pytest.fixture(scope="module")
def lab(provisioner, topo):
    with provisioner.create(topo) as the_lab:
        yield the_lab
    assert objects_of(provisioner.client, the_lab.id) == []


def test_hosts_have_own_root_hostname_and_topology_addresses(lab):
    fe = lab.host("frontend")
    assert fe.succeed("hostname").strip() == "frontend"
    assert 'VERSION_ID="12"' in fe.succeed("cat /etc/os-release")
    # the links carry the networks' names and exactly the topology's addresses
    assert fe.addresses("scope", "global") == {"fe 192.0.2.1/24", "srv 192.168.31.1/24",
                                               "srv fd00:31::1/64"}
    # a file written in one host is not in another (own root filesystem)
    fe.put_file("/etc/only-here", "x")
    lab.host("server").fail("test -e /etc/only-here")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_hosts_reach_each_other_by_topology_address_and_name(lab, family):
    fe, server = lab.host("frontend"), lab.host("server")
    flag = "-4" if family == "ipv4" else "-6"
    fe.succeed(f"ping {flag} -c1 -W2 {server.address('srv', family)}")
    fe.succeed("ping -4 -c1 -W2 server")


def test_nothing_routes_out_and_the_lab_bridges_hold_no_address(provisioner, lab):
    fe = lab.host("frontend")
    assert default_routes(fe) == []
    fe.fail("ip route get 1.1.1.1")
    nets = provisioner.client.networks.list(filters={"label": f"{LABEL}={lab.id}"})
    assert len(nets) == len(lab.topology.networks)
    for net in nets:
        assert net.attrs["Internal"], f"{net.name} is not internal"
        bridge = provisioner.bridge_name(net)
        shown = subprocess.run(["ip", "-o", "addr", "show", "dev", bridge, "scope", "global"],
                               capture_output=True, text=True, check=True).stdout
        assert shown == "", f"the machine has an address on {bridge}: {shown}"


def test_services_come_back_after_crash_and_start(lab):
    host = lab.host("agent1")
    svc = host.service("sleeper").define("sleep 1000")
    svc.wait_for_state("RUNNING")
    before = svc.pid
    host.crash()
    down = host.run("true")
    assert down.rc == 255 and "down" in down.stderr
    host.start()
    svc.wait_for_state("RUNNING")
    assert svc.pid != before
    # the links are wired again at boot
    lab.host("server").succeed(f"ping -c1 -W2 {host.address('srv')}")


def test_block_drops_both_ways_and_unblock_restores(lab):
    fe, server = lab.host("frontend"), lab.host("server")
    fe.block()
    try:
        server.fail(f"ping -c1 -W1 {fe.address('srv')}")
        fe.fail(f"ping -6 -c1 -W1 {server.address('srv', 'ipv6')}")
        assert "srv 192.168.31.1/24" in fe.addresses("dev", "srv")  # addresses stay
    finally:
        fe.unblock()
    server.succeed(f"ping -c1 -W2 {fe.address('srv')}")


def test_connect_is_made_from_inside_the_host(provisioner, lab):
    """Host.connect (capability `connect`, how the harness reaches a lab's
    apiserver): the peer sees the connection come from the host's address."""
    assert "connect" in provisioner.capabilities
    server, agent = lab.host("server"), lab.host("agent1")
    agent.service("peer").define(["socat", "TCP-LISTEN:7000,fork,reuseaddr",
                                  "SYSTEM:echo $SOCAT_PEERADDR"])
    agent.wait_for_port(7000)
    with server.connect(agent.address("srv"), 7000) as sock:
        assert sock.makefile().read().strip() == server.address("srv")


def test_testinfra_goes_through_docker_url(provisioner, lab):
    host = lab.host("server")
    assert host.testinfra.backend.NAME == provisioner.engine  # docker:// or podman://
    assert host.testinfra.package("haproxy").is_installed
    host.service("web").define("python3 -m http.server 8080")
    host.wait_for_port(8080)
    assert host.testinfra.socket("tcp://0.0.0.0:8080").is_listening


def test_command_timeout_kills_the_command(lab):
    result = lab.host("server").run("sleep 30", timeout=2)
    assert result.rc == 124 and "killed after 2s" in result.stderr
    assert "sleep 30" not in lab.host("server").succeed("ps -eo args")


@pytest.fixture
def late_response_parsing(monkeypatch):
    """The HTTP client parses each response 0.3 s late, so that what the
    engine sends right after the headers has arrived by then: an exec's first
    output frames come in the same read as its `101 UPGRADED` headers."""
    begin = http.client.HTTPResponse.begin

    def late_begin(response):
        time.sleep(0.3)
        return begin(response)
    monkeypatch.setattr(http.client.HTTPResponse, "begin", late_begin)


def test_exec_output_that_came_with_the_response_headers_is_kept(lab, late_response_parsing):
    """docker/docker-py#3332: frames read from the raw socket beneath the
    reader that parsed the headers lose what that reader had buffered."""
    host = lab.host("server")
    for _ in range(3):
        result = host.run("echo out; echo err >&2")
        assert (result.rc, result.stdout, result.stderr) == (0, "out\n", "err\n")
    # more than the reader's buffer holds: frames that span its refills
    lines = host.succeed("seq 1 100000").splitlines()
    assert lines == [str(i) for i in range(1, 100001)]
    assert host.run("cat", input=b"x" * 300000).stdout == "x" * 300000


def test_list_finds_the_lab_by_label(provisioner, lab):
    [record] = [r for r in provisioner.list() if r.id == lab.id]
    assert record.complete and record.owner_alive and not record.orphaned
    assert record.hosts == ["frontend", "server", "agent1"]
    assert provisioner.attach(lab.id).host("server").succeed("hostname").strip() == "server"


def test_second_lab_of_same_topology_runs_side_by_side(provisioner, topo, lab):
    with provisioner.create(topo) as other:
        assert other.id != lab.id
        other.host("frontend").succeed(f"ping -c1 -W2 {other.host('server').address('srv')}")
        # the same addresses in the first lab answer there, not here
        lab.host("server").service("mark").define("sleep 999")
        assert "mark" not in other.host("server").services()
    assert objects_of(provisioner.client, other.id) == []


def test_gc_removes_a_lab_whose_owner_was_killed_and_keeps_a_detached_one(provisioner, topo):
    child = textwrap.dedent(f"""
        import os
        from harness.model.topology import from_dict
        from provisioners.docker import {type(provisioner).__name__} as Provisioner
        lab = Provisioner().create(from_dict({SMALL!r}, source="child"))
        if os.environ.get("DETACH"):
            lab.detach()
        print(lab.id, flush=True)
        os._exit(0)   # as kill -9 would: no cleanup
    """)
    ids = {}
    for mode in ("killed", "detached"):
        env = dict(os.environ, DETACH="1" if mode == "detached" else "")
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                             env=env, timeout=120, check=True).stdout
        ids[mode] = out.split()[-1]
    try:
        removed = provisioner.gc().removed
        assert ids["killed"] in removed and ids["detached"] not in removed
        assert objects_of(provisioner.client, ids["killed"]) == []
        assert objects_of(provisioner.client, ids["detached"])
    finally:
        for lab_id in ids.values():
            provisioner.destroy(lab_id)
    assert objects_of(provisioner.client, ids["detached"]) == []


def test_failed_create_leaves_nothing(provisioner, topo):
    bad = type(provisioner)(base_url=provisioner.base_url, image="harness-host:does-not-exist")
    before = {r.id for r in provisioner.list()}
    with pytest.raises(docker.errors.ImageNotFound):
        bad.create(topo)
    new = [r.id for r in provisioner.list() if r.id not in before and r.topology == "dsmall"
           and r.owner_pid == os.getpid()]
    assert new == []


def test_the_setup_applies_on_docker_hosts(lab):
    """The same components run on containers as on the netns lab (seed 001:
    kine on PostgreSQL, token joins, flannel host-gw): the pod network's
    routes lead from the server to the agent's pod subnet."""
    from harness import setups
    target = setups.apply(lab)
    assert target.has("pod-network") and target.has("host-gw")
    agent_subnet = target.pod_network.subnets["agent1"][0]
    [route] = lab.host("server").routes(4, str(agent_subnet))
    assert route["gateway"] == lab.host('agent1').address('srv')


def test_testinfra_over_ssh_into_a_container(provisioner, topo):
    with provisioner.create(topo.only("server"), ssh=True) as lab:
        server = lab.host("server")
        assert server.ssh_testinfra("ssh").check_output("hostname") == "server"
        paramiko = server.ssh_testinfra("paramiko")
        assert paramiko.check_output("cat /etc/hostname") == "server"
        assert paramiko.socket("tcp://0.0.0.0:22").is_listening
    # without sshd asked for, there is none to reach
    with provisioner.create(topo.only("server")) as lab:
        with pytest.raises(LookupError, match="has no sshd"):
            lab.host("server").ssh_testinfra()
