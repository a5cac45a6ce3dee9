"""An apply runs its recipe as a graph, on a real two-host netns lab: parts
that do not depend on each other overlap, a part starts only after the
parts that provide what it needs have ended, a failure stops the rest
(their waits called off) and is the error raised, and every part's and
host's start and end is on the target's timeline."""
from __future__ import annotations

import threading
import time

import pytest

from harness import setups
from harness.lab.timeline import chart, on_hosts
from harness.lab.wait import wait_until
from harness.setups.parts import declares
from harness.setups.recipes import part


def test_independent_parts_overlap_and_a_dependent_part_waits_for_them(small_lab):
    """Each of two independent parts waits until the other has started: run
    one after the other, the first would time out."""
    started = {"a": threading.Event(), "b": threading.Event()}
    seen_by_c = []

    def independent(name, other, component):
        @declares(provides=(component,))
        def apply(lab, target):
            started[name].set()
            wait_until(started[other].is_set, f"part {other} to start beside {name}", timeout=10)
            target.provide(component, name)
        return apply

    @declares(needs=("etcd", "dns_server"), provides=())
    def after_both(lab, target):
        seen_by_c.append((target.etcd, target.dns_server))

    target = setups.apply(small_lab, recipe=[part("a", independent("a", "b", "etcd")),
                                             part("b", independent("b", "a", "dns_server")),
                                             part("c", after_both)])
    assert seen_by_c == [("a", "b")]
    spans = {r["part"]: r for r in target.timeline.as_records() if r["host"] is None}
    assert spans["a"]["start"] < spans["b"]["end"] and spans["b"]["start"] < spans["a"]["end"]
    assert spans["c"]["start"] >= max(spans["a"]["end"], spans["b"]["end"])


def test_a_failed_part_calls_off_the_others_and_is_the_error_raised(small_lab):
    applied = []

    @declares(provides=("etcd",))
    def fails(lab, target):
        time.sleep(0.2)
        raise RuntimeError("etcd did not start on master")

    @declares(provides=("dns_server",))
    def waits_long(lab, target):
        wait_until(lambda: False, "something that never comes", timeout=120)

    @declares(needs=("etcd",))
    def needs_etcd(lab, target):
        applied.append("needs etcd")

    began = time.monotonic()
    with pytest.raises(RuntimeError, match="etcd did not start on master"):
        setups.apply(small_lab, recipe=[part("fails", fails), part("waits", waits_long),
                                        part("needs etcd", needs_etcd)])
    # the other part's 120 s wait gave up at once; what needed the failed part never ran
    assert time.monotonic() - began < 10
    assert applied == []


def test_each_host_of_a_part_is_worked_on_at_once_and_timed(small_lab):
    names = sorted(small_lab.hosts)
    arrived = set()

    @declares(provides=("kubelets",))
    def on_every_host(lab, target):
        def work(host):
            arrived.add(host.name)
            # every host's work waits for all of them: one at a time, it times out
            wait_until(lambda: arrived == set(names), "every host's work to begin", timeout=10)
            host.succeed("true")
        on_hosts(lab.hosts.values(), work)
        target.provide("kubelets", list(lab.hosts.values()))

    target = setups.apply(small_lab, recipe=[part("every host", on_every_host)])
    records = target.timeline.as_records()
    assert sorted(r["host"] for r in records if r["part"] == "every host" and r["host"]) == names
    whole = next(r for r in records if r["host"] is None)
    assert all(whole["start"] <= r["start"] <= r["end"] <= whole["end"] for r in records)
    drawn = chart(records)
    assert all(f"  {n}" in drawn for n in names) and "every host" in drawn
