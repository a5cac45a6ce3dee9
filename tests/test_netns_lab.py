"""The netns lab for real: hosts, networks, services, faults, isolation."""
from pathlib import Path

import pytest

from harness.lab import procs

from harness.lab.host import CommandFailed
from harness.lab.supervisor import ServiceError
from harness.lab.wait import WaitTimeout, wait_until
from tests.conftest import default_routes


def test_host_has_its_own_identity_and_private_dirs(small_lab):
    master, node = small_lab.host("master"), small_lab.host("node1")
    assert master.succeed("hostname").strip() == "master"
    assert node.succeed("cat /etc/hostname").strip() == "node1"
    hosts = master.succeed("cat /etc/hosts")
    assert "192.168.77.10\tmaster.srv master" in hosts and "node1" in hosts
    master.put_file("/etc/etcd/probe.conf", "only on master")
    master.put_file("/var/lib/probe/data", "x")
    assert node.run("test -e /etc/etcd/probe.conf").rc == 1
    assert node.run("test -e /var/lib/probe/data").rc == 1
    with open("/etc/hostname") as f:
        assert f.read().strip() != "master", "the machine's /etc must not change"
    assert master.get_file("/etc/etcd/probe.conf") == b"only on master"
    # binaries and package data are the machine's
    assert master.run("dpkg-query -W iproute2").ok


def test_sysfs_is_the_hosts(small_lab):
    assert sorted(small_lab.host("master").succeed("ls /sys/class/net").split()) == ["lo", "srv"]


def test_each_host_has_a_cgroup_subtree_of_its_own(netns, two_hosts):
    """What a kubelet per host needs: its cgroup root is its own, on every
    hierarchy, and a process of the host in another network namespace (as a
    container is) is still the host's and goes with the lab."""
    from provisioners import host_cgroups
    from tests.conftest import assert_no_trace, lab_footprint, pids_alive
    small_lab = netns.create(two_hosts)
    footprint = lab_footprint(netns, small_lab.id)
    try:
        master, node = small_lab.host("master"), small_lab.host("node1")
        service = master.service("probe").define("sleep 1000")
        service.wait_for_state("RUNNING")
        own = master.succeed(f"cat /proc/{service.pid}/cgroup")
        assert all(line.endswith(":/") for line in own.splitlines()), own
        hierarchies = host_cgroups.hierarchies()
        for h in hierarchies:
            assert master.succeed(f"cat {h.mountpoint}/cgroup.procs").split(), \
                f"{h.mountpoint} on the host shows none of its processes"
        # a 'container': a nested cgroup in the host's subtree, a process in a netns of its own
        master.succeed("mkdir /sys/fs/cgroup/pids/kubepods && unshare --net sh -c "
                       "'echo $$ > /sys/fs/cgroup/pids/kubepods/cgroup.procs; exec sleep 1000' "
                       "> /dev/null 2>&1 &")
        subtree = Path("/sys/fs/cgroup/pids") / host_cgroups.subtree(small_lab.id, "master")
        assert (subtree / "kubepods").is_dir()
        assert not node.run("ls /sys/fs/cgroup/pids/kubepods").ok, "node1 sees master's cgroups"
        [container] = host_cgroups.pids_in([subtree / "kubepods"])
    finally:
        small_lab.destroy()
    assert pids_alive([container]) == [], "the host's container outlived the lab"
    assert_no_trace(netns, small_lab.id, footprint["inodes"])


def test_hosts_reach_each_other_v4_and_v6(small_lab):
    node = small_lab.host("node1")
    node.succeed("ping -4 -c1 -W2 master && ping -6 -c1 -W2 master")
    node.succeed("ping -c1 -W2 fd00:77::1")


def test_no_route_out_of_the_lab(small_lab):
    master = small_lab.host("master")
    assert default_routes(master) == []
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "0", "forwarding in the root namespace must stay off"
    assert master.run("ping -c1 -W1 192.168.77.200").rc != 0


def test_service_lifecycle(small_lab):
    master, node = small_lab.host("master"), small_lab.host("node1")
    svc = master.service("web")
    assert svc.status() == "UNDEFINED"
    with pytest.raises(ServiceError, match="service web is not defined on host master"):
        svc.start()
    svc.define("python3 -m http.server 8081")
    svc.wait_for_state("RUNNING")
    master.wait_for_port(8081)
    node.wait_until_succeeds("curl -sf http://master:8081/ -o /dev/null", timeout=10)
    first_pid = svc.pid
    svc.restart()
    svc.wait_for_state("RUNNING")
    assert svc.pid != first_pid
    svc.stop()
    assert svc.status() == "STOPPED"
    node.fail("curl -sf --max-time 2 http://master:8081/")
    assert "\"GET / HTTP/1.1\" 200" in svc.logs()
    assert master.services() == {"web": "STOPPED"}


def test_crash_kills_everything_and_start_brings_enabled_services_back(small_lab):
    master = small_lab.host("master")
    master.service("sleeper").define("sleep 1000")
    master.service("sleeper").wait_for_state("RUNNING")
    master.crash()
    # hosts share the machine's pid namespace: look by namespace membership
    assert not procs.pids_in(master.namespace_inodes()), "crash left processes on the host"
    # supervisord is gone with the rest: its socket is left and refuses
    with pytest.raises(ConnectionRefusedError):
        master.services()
    master.start()
    master.wait_started()
    master.service("sleeper").wait_for_state("RUNNING")


def test_block_and_unblock(small_lab):
    master, node = small_lab.host("master"), small_lab.host("node1")
    node.block()
    master.fail("ping -c1 -W1 node1")
    assert "UP" in node.succeed("ip -br link show srv"), "a blocked link drops silently, it stays up"
    node.unblock()
    master.wait_until_succeeds("ping -c1 -W1 node1", timeout=5)


def test_command_results_and_failures(small_lab):
    master = small_lab.host("master")
    result = master.run("echo out; echo err >&2; exit 3")
    assert (result.rc, result.stdout, result.stderr) == (3, "out\n", "err\n")
    with pytest.raises(CommandFailed, match=r"\[master\] `false` failed \(rc=1"):
        master.succeed("false")
    assert master.run("sleep 5", timeout=0.5).rc == 124


def test_wait_timeout_says_what_and_last_seen(small_lab):
    master = small_lab.host("master")
    with pytest.raises(WaitTimeout) as info:
        master.wait_until_succeeds("echo still-closed >&2; false", timeout=0.5)
    assert "waiting for `echo still-closed >&2; false` to succeed on master" in str(info.value)
    assert "still-closed" in info.value.last_seen
    with pytest.raises(WaitTimeout, match="last seen: 0"):
        wait_until(lambda: 0, "a number", timeout=0.2)


def test_testinfra_works_on_lab_host(small_lab):
    master = small_lab.host("master")
    master.service("web").define("python3 -m http.server 8082")
    master.wait_for_port(8082)
    ti = master.testinfra
    assert ti.socket("tcp://0.0.0.0:8082").is_listening
    assert not ti.socket("tcp://0.0.0.0:8083").is_listening
    assert ti.file("/etc/hostname").content_string.strip() == "master"
    assert ti.package("iproute2").is_installed


def test_two_labs_of_one_topology_side_by_side(netns, two_hosts):
    with netns.create(two_hosts) as a, netns.create(two_hosts) as b:
        assert a.id != b.id
        assert a.host("master").address() == b.host("master").address()
        a.host("node1").block()
        b.host("node1").succeed("ping -c1 -W2 master")
        a.host("master").fail("ping -c1 -W1 node1")
        a.host("master").service("web").define("python3 -m http.server 8090")
        a.host("master").wait_for_port(8090)
        assert not b.host("master").listening(8090)
