"""Every way a lab can end leaves nothing behind: the context manager,
Ctrl-C, SIGTERM, `harness down`, and kill -9 followed by `harness gc`."""
import signal

import pytest

from tests.conftest import TWO_HOSTS, assert_no_trace, lab_footprint


def test_context_manager_exit_removes_everything(netns, two_hosts):
    with netns.create(two_hosts) as lab:
        lab.host("master").service("sleeper").define("sleep 1000")
        footprint = lab_footprint(netns, lab.id)
        assert footprint["files"] and footprint["inodes"]
    assert_no_trace(netns, lab.id, footprint["inodes"])


def test_exception_inside_lab_removes_everything(netns, two_hosts):
    with pytest.raises(RuntimeError, match="a test blew up"):
        with netns.create(two_hosts) as lab:
            footprint = lab_footprint(netns, lab.id)
            raise RuntimeError("a test blew up")
    assert_no_trace(netns, lab.id, footprint["inodes"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_to_harness_removes_everything(netns, lab_holder, signum):
    proc, lab_id = lab_holder(TWO_HOSTS)
    footprint = lab_footprint(netns, lab_id)
    assert footprint["inodes"]
    proc.send_signal(signum)
    proc.wait(timeout=20)
    assert_no_trace(netns, lab_id, footprint["inodes"])


def test_kill_9_then_gc_removes_everything(netns, lab_holder):
    proc, lab_id = lab_holder(TWO_HOSTS)
    footprint = lab_footprint(netns, lab_id)
    proc.kill()
    proc.wait()
    # the lab outlives its harness: its supervisord and sleeper still run
    assert lab_footprint(netns, lab_id)["files"]
    assert any(r.id == lab_id and r.orphaned for r in netns.list())
    removed = netns.gc().removed
    assert lab_id in removed
    assert_no_trace(netns, lab_id, footprint["inodes"])


def test_gc_keeps_labs_whose_owner_lives_and_detached_labs(netns, two_hosts):
    with netns.create(two_hosts) as owned:
        detached = netns.create(two_hosts)
        detached.detach()
        try:
            removed = netns.gc().removed
            assert owned.id not in removed and detached.id not in removed
            assert owned.host("master").run("true").ok and detached.host("master").run("true").ok
        finally:
            footprint = lab_footprint(netns, detached.id)
            detached.destroy()
        assert_no_trace(netns, detached.id, footprint["inodes"])


def test_failed_create_leaves_nothing(netns, two_hosts, monkeypatch):
    made = []
    original = netns._wire

    def broken_wire(lab_id, topology, hosts):
        made.append(lab_footprint(netns, lab_id))
        raise OSError("netlink said no")
    monkeypatch.setattr(netns, "_wire", broken_wire)
    with pytest.raises(OSError, match="netlink said no"):
        netns.create(two_hosts)
    monkeypatch.setattr(netns, "_wire", original)
    lab_id = made[0]["dir"].name
    assert_no_trace(netns, lab_id, made[0]["inodes"])


def test_sigterm_in_forked_child_does_not_tear_down_parent(netns, two_hosts):
    """pyroute2 forks helpers and ends them with SIGTERM; our SIGTERM handler
    must not run the parent's cleanup in such a child."""
    from harness.lab import sigterm_as_interrupt
    with sigterm_as_interrupt():
        for _ in range(3):
            with netns.create(two_hosts) as lab:
                assert lab.host("node1").run("ping -c1 -W2 master").ok
