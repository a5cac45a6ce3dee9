"""From nothing to a Ready cluster on real components, and the memory its
processes use, beside the same topology applied with the stand-ins
(harness.setups.recipes.STAND_INS) in the same run. Printed, not asserted.

Ready means: every node Ready, and a pod of a Deployment answering through
its Service's name from a worker (on fcio-k8s: through HAProxy on the
frontend). Goals on 2 cores (issue 29): fcio-k8s serving in 10 s, k3s in
20 s, kubeadm-ha in 40 s (kind's published single-node create is about
30-60 s). Each real round prints its timeline: every part's and host's
start and end (harness.lab.timeline), the apply run as its graph.

    .venv/bin/python benchmarks/cluster_up.py [--rounds 3] [--setup nixos ...] [--provisioner docker]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

# the project first: this directory's provisioners.py would shadow the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import provisioners  # noqa: E402
from harness import setups  # noqa: E402
from harness.lab.timeline import chart  # noqa: E402
from harness.setups.recipes import STAND_INS  # noqa: E402
from harness.model.topology import load  # noqa: E402
from provisioners import host_cgroups  # noqa: E402

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
#: on the frontend's loopback: every setup's frontend has one (their public addresses differ)
LISTEN = "127.0.0.1:8000"


def pss_mib(lab_id: str) -> float:
    """Proportional set size of every process in the lab's cgroups (containers
    too): a page several processes share (the multi-call binary's, a
    library's) counts once in all, split between them."""
    total = 0
    for pid in host_cgroups.pids_in(host_cgroups.lab_dirs(lab_id)):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def serving(lab, target) -> None:
    """A pod answers through its Service's name (through HAProxy where there is one)."""
    bench = target.workload("bench", port=8080, headless=True).scale(1)
    worker = target.workers[-1]
    name = f"bench.default.svc.{lab.topology.domain}"
    assert target.resolve(name, worker) == ("NOERROR", bench.pod_ips())
    if target.provided("frontend"):
        target.frontend.configure("bench", binds=[LISTEN], podPort=8080)
        lab.host("frontend").wait_until_succeeds(f"curl -sf -m 2 http://{LISTEN}/", timeout=60)
    else:
        worker.wait_until_succeeds(shlex.join(["curl", "-sf", "-m", "2", f"http://{name}:8080/"]),
                                   timeout=60)


def one_round(setup: str, peer: str, provisioner: str) -> tuple[float, float, str]:
    """Seconds from nothing to serving, MiB (PSS) in use then, and the timeline
    (the lab's creation, then the apply's parts and hosts)."""
    prov = provisioners.get(provisioner)
    start = time.monotonic()
    with prov.create(load(TOPOLOGIES / f"{setup}.yaml")) as lab:
        created = time.monotonic() - start
        target = setups.apply(lab, recipe=None if peer == "real" else STAND_INS[setup])
        applied = time.monotonic() - start
        serving(lab, target)
        took = time.monotonic() - start
        timeline = (f"lab created in {created:.2f} s, applied at {applied:.2f} s, serving at {took:.2f} s; "
                    f"the apply:\n{chart(target.timeline.as_records())}")
        return took, pss_mib(lab.id), timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--provisioner", default=provisioners.DEFAULT, choices=sorted(provisioners.BACKENDS))
    parser.add_argument("--real-only", action="store_true", help="skip the stand-in peer")
    parser.add_argument("--setup", action="append", choices=sorted(STAND_INS),
                        help="a setup to measure (default: every one that runs real components)")
    args = parser.parse_args()
    for setup in args.setup or sorted(STAND_INS):
        results = {}
        for peer in ("real",) if args.real_only else ("real", "stand-in"):
            rounds = [one_round(setup, peer, args.provisioner) for _ in range(args.rounds)]
            if peer == "real":
                median = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
                print(f"{setup} on {args.provisioner}, the median round: {median[2]}", flush=True)
            results[peer] = (statistics.median(r[0] for r in rounds),
                             statistics.median(r[1] for r in rounds))
            print(f"{setup:15} {peer:9} up to serving {results[peer][0]:6.1f} s   memory "
                  f"{results[peer][1]:7.0f} MiB PSS   (median of {args.rounds})", flush=True)
        if args.real_only:
            continue
        real, standin = results["real"], results["stand-in"]
        print(f"{setup:15} real / stand-in: time x{real[0] / standin[0]:.1f}, "
              f"memory x{real[1] / standin[1]:.1f}", flush=True)


if __name__ == "__main__":
    main()
