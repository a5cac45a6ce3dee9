"""Convergence figures (printed, never asserted): HAProxy following scale
events through the cluster DNS (goal: p95 < 1.5 s with a 1 s resolver hold)
and seed 004's etcd rejoin cycle (goal: < 7 s).

    .venv/bin/python benchmarks/convergence.py [--events 20] [--rejoins 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# the project first: this directory's provisioners.py would shadow the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import setups

from harness.model import topology  # noqa: E402
from harness.lab.wait import wait_until  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
SCALES = (1, 3, 5, 2, 4, 0)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def haproxy_convergence(events: int) -> list[tuple[int, float]]:
    """(pods after the event, seconds until HAProxy's UP set is exactly them)."""
    with NetnsProvisioner().create(topology.load(TOPOLOGIES / "fcio-k8s.yaml")) as lab:
        target = setups.apply(lab)
        fe, web = target.frontend, target.workload("bench", headless=True)
        fe.configure("bench", binds=[f"{fe.host.address('fe', 'ipv4')}:8000"], podPort=8080)
        times = []
        for i in range(events):
            web.scale(SCALES[i % len(SCALES)])
            start, want = time.monotonic(), web.pod_ips()
            wait_until(lambda: fe.up_addresses("bench") == want, f"HAProxy to serve {want}", 15, 0.02)
            times.append((len(want), time.monotonic() - start))
        return times


def etcd_rejoins(cycles: int) -> list[float]:
    with NetnsProvisioner().create(topology.load(TOPOLOGIES / "kubeadm-ha.yaml")) as lab:
        etcd = setups.apply(lab).etcd
        name = list(etcd.members)[-1]
        return [etcd.rejoin(name) for _ in range(cycles)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--rejoins", type=int, default=3)
    args = parser.parse_args()
    if args.events:
        events = haproxy_convergence(args.events)
        ha = [t for _, t in events]
        to_zero = [t for pods, t in events if pods == 0]
        print(f"HAProxy convergence over {len(ha)} scale events (hold 1 s; from DNS update to UP set "
              f"== pods): p50 {pct(ha, 50):.2f} s, p95 {pct(ha, 95):.2f} s, max {max(ha):.2f} s "
              f"(goal p95 < 1.5 s: {pct(ha, 95) / 1.5:.2f} of goal)")
        if to_zero:
            others = [t for pods, t in events if pods]
            print(f"  of which scale to 0 pods ({len(to_zero)}; NXDOMAIN, kept for `hold nx` 1 s): "
                  f"max {max(to_zero):.2f} s; scale to >= 1 pod: p95 {pct(others, 95):.2f} s, "
                  f"max {max(others):.2f} s")
    if args.rejoins:
        rj = etcd_rejoins(args.rejoins)
        print(f"etcd rejoin cycle (remove, wipe, add, start existing, all healthy) over {len(rj)}: "
              f"median {statistics.median(rj):.2f} s, max {max(rj):.2f} s "
              f"(goal < 7 s: {max(rj) / 7:.2f} of goal)")


if __name__ == "__main__":
    main()
