"""Convergence figures (printed, never asserted): HAProxy following scale
events through the cluster DNS (goal: p95 < 1.5 s with a 1 s resolver hold)
on a real cluster with a frontend (seed 000 by default, seed 001 with
`--setup k3s`: Deployments scaled through the API, CoreDNS) and, in the same
run, on the same topology with the stand-ins (netns pods, BIND), as a ratio;
and seed 004's etcd rejoin cycle (goal: < 7 s).

    .venv/bin/python benchmarks/convergence.py [--setup k3s] [--events 20] [--rejoins 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# the project first: this directory's provisioners.py would shadow the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import setups  # noqa: E402
from harness.setups.recipes import STAND_INS  # noqa: E402

from harness.model import topology  # noqa: E402
from harness.lab.wait import wait_until  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
SCALES = (1, 3, 5, 2, 4, 0)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


#: the setups with a frontend that run real components
SETUPS = ("fcio-k8s", "k3s")
#: HAProxy's listen for the benchmark: every frontend has loopback
LISTEN = "127.0.0.1:8000"


def haproxy_convergence(events: int, setup: str, peer: str) -> list[tuple[int, float]]:
    """(pods after the event, seconds from the scale call's return (pods
    Ready and published) until HAProxy's UP set is exactly them)."""
    with NetnsProvisioner().create(topology.load(TOPOLOGIES / f"{setup}.yaml")) as lab:
        target = setups.apply(lab, recipe=None if peer == "real" else STAND_INS[setup])
        fe, web = target.frontend, target.workload("bench", headless=True)
        fe.configure("bench", binds=[LISTEN], podPort=8080)
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
    parser.add_argument("--setup", choices=SETUPS, default="fcio-k8s")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--rejoins", type=int, default=3)
    args = parser.parse_args()
    p95 = {}
    for peer in ("real", "stand-in") if args.events else ():
        events = haproxy_convergence(args.events, args.setup, peer)
        ha = [t for _, t in events]
        p95[peer] = pct(ha, 95)
        to_zero = [t for pods, t in events if pods == 0]
        print(f"{args.setup} {peer}: HAProxy convergence over {len(ha)} scale events (hold 1 s; from pods "
              f"published to UP set == pods): p50 {pct(ha, 50):.2f} s, p95 {p95[peer]:.2f} s, "
              f"max {max(ha):.2f} s (goal p95 < 1.5 s: {p95[peer] / 1.5:.2f} of goal)", flush=True)
        if to_zero:
            others = [t for pods, t in events if pods]
            print(f"  of which scale to 0 pods ({len(to_zero)}; NXDOMAIN, kept for `hold nx` 1 s): "
                  f"max {max(to_zero):.2f} s; scale to >= 1 pod: p95 {pct(others, 95):.2f} s, "
                  f"max {max(others):.2f} s")
    if len(p95) == 2:
        print(f"real / stand-in: HAProxy convergence p95 x{p95['real'] / p95['stand-in']:.2f}")
    if args.rejoins:
        rj = etcd_rejoins(args.rejoins)
        print(f"etcd rejoin cycle (remove, wipe, add, start existing, all healthy) over {len(rj)}: "
              f"median {statistics.median(rj):.2f} s, max {max(rj):.2f} s "
              f"(goal < 7 s: {max(rj) / 7:.2f} of goal)")


if __name__ == "__main__":
    main()
