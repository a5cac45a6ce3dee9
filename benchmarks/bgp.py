"""BGP figures of seed 004's mesh (printed, never asserted): kube-router
(GoBGP, standing in for calico-node) on the nodes, BIRD on the router; each
against a peer measured in the same run on the same lab:

- convergence of the whole mesh after kube-router's DaemonSet is applied,
  against one node's block coming back after the router re-enables its
  session with that node;
- the router withdrawing a node's block after the node is cut silently (the
  hold timer must expire), against the router shutting its session with the
  node (a Cease notification withdraws at once).

    .venv/bin/python benchmarks/bgp.py [--cycles 3]
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
from harness.lab.wait import wait_until  # noqa: E402
from harness.model import topology  # noqa: E402
from harness.setups.parts.pod_network.bgp import protocol_name  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402

TOPOLOGY = Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "kubeadm-ha.yaml"


def withdrawn_after(bgp, node: str, cut, restore) -> tuple[float, float]:
    """(seconds until the router no longer routes `node`'s block after
    `cut()`, seconds until the mesh has converged again after `restore()`)."""
    cut()
    start = time.monotonic()
    wait_until(lambda: bgp.kernel_routes(bgp.router) == bgp.expected_router_routes({node}),
               f"the router to withdraw {node}'s block", bgp.hold_time * 3, 0.05)
    withdrawn = time.monotonic() - start
    restore()
    start = time.monotonic()
    wait_until(bgp.converged, f"{node}'s block back on the router and the nodes", 60, 0.05)
    return withdrawn, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    with NetnsProvisioner().create(topology.load(TOPOLOGY)) as lab:
        bgp = setups.apply(lab).bgp
        node = list(bgp.blocks)[-1]
        host = lab.host(node)
        session = protocol_name(node)
        silent, graceful, back = [], [], []
        for _ in range(args.cycles):
            withdrawn, restored = withdrawn_after(bgp, node, host.block, host.unblock)
            silent.append(withdrawn)
            withdrawn, restored = withdrawn_after(bgp, node, lambda: bgp.birdc(bgp.router, f"disable {session}"),
                                                  lambda: bgp.birdc(bgp.router, f"enable {session}"))
            graceful.append(withdrawn)
            back.append(restored)
        mesh = bgp.converged_in
    med = statistics.median
    print(f"mesh convergence after kube-router is applied: {mesh:.2f} s; one node's block back after "
          f"the router re-enables its session (median of {args.cycles}): {med(back):.2f} s "
          f"(x{mesh / med(back):.1f})")
    print(f"withdrawal after {node} is cut silently (hold {bgp.hold_time} s): {med(silent):.2f} s; after "
          f"the router shuts its session (Cease): {med(graceful):.2f} s (x{med(silent) / med(graceful):.1f})")


if __name__ == "__main__":
    main()
