"""From nothing to a Ready seed-000 cluster on real components (fcio-k8s:
every node Ready, CoreDNS answering on the frontend, HAProxy serving a pod),
and the memory the cluster's processes use, beside the same topology applied
with the stand-ins (harness.setups.recipes.SEED_000_STAND_IN) in the same
run. Printed, not asserted.

Goal: the real cluster Ready in under 60 s on 2 cores (kind's published
single-node create is about 30-60 s).

    .venv/bin/python benchmarks/cluster_up.py [--rounds 2]
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
from harness.setups.recipes import SEED_000_STAND_IN  # noqa: E402
from harness.model.topology import load  # noqa: E402
from provisioners import host_cgroups  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402

TOPOLOGIES = Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
LISTEN = "198.51.100.2:8000"


def rss_mib(lab_id: str) -> float:
    """Resident memory of every process in the lab's cgroups (containers too)."""
    total = 0
    for pid in host_cgroups.pids_in(host_cgroups.lab_dirs(lab_id)):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


#: what each round applies to the fcio-k8s topology (None: its own recipe)
PEERS = {"real": None, "stand-in": SEED_000_STAND_IN}


def one_round(peer: str) -> tuple[float, float]:
    """Seconds from nothing to serving through HAProxy, and MiB in use then."""
    prov = NetnsProvisioner()
    start = time.monotonic()
    with prov.create(load(TOPOLOGIES / "fcio-k8s.yaml")) as lab:
        target = setups.apply(lab, recipe=PEERS[peer])
        bench = target.workload("bench", port=8080, headless=True).scale(1)
        target.frontend.configure("bench", binds=[LISTEN], podPort=8080)
        frontend = lab.host("frontend")
        frontend.wait_until_succeeds(f"curl -sf -m 2 http://{LISTEN}/", timeout=60)
        assert target.resolve("bench.default.svc.cluster.local", frontend) == ("NOERROR", bench.pod_ips())
        took = time.monotonic() - start
        return took, rss_mib(lab.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = {}
    for name in PEERS:
        rounds = [one_round(name) for _ in range(args.rounds)]
        results[name] = (statistics.median(r[0] for r in rounds),
                         statistics.median(r[1] for r in rounds))
        print(f"{name:14} up to serving {results[name][0]:6.1f} s   memory {results[name][1]:7.0f} MiB"
              f"   (median of {args.rounds})", flush=True)
    real, standin = results["real"], results["stand-in"]
    print(f"real / stand-in: time x{real[0] / standin[0]:.1f}, memory x{real[1] / standin[1]:.1f}")


if __name__ == "__main__":
    main()
