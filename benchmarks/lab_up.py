"""Time a netns lab up and down for 5 and 20 hosts, and Mininet (Debian's
`mininet`, Linux bridge switch, no controller) creating the same number of
hosts and links in the same run. Prints both and the ratio.

Goal: a 5-host lab up (namespaces, links, addresses, supervisors) under 2 s,
teardown under 1 s, and faster than Mininet at 20 hosts.

    .venv/bin/python benchmarks/lab_up.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import subprocess
import time
from pathlib import Path

# the project first: this directory's provisioners.py would shadow the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.model.topology import from_dict  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402

MININET = r"""
import sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import SingleSwitchTopo
setLogLevel("error")
n = int(sys.argv[1])
start = time.monotonic()
net = Mininet(topo=SingleSwitchTopo(n), switch=LinuxBridge, controller=None)
net.start()
up = time.monotonic() - start
start = time.monotonic()
net.stop()
print(up, time.monotonic() - start)
"""


def topology(hosts: int):
    return from_dict({
        "name": f"bench{hosts}", "setup": "nixos",
        "networks": [{"name": "srv", "ipv4": "192.168.90.0/24", "ipv6": "fd00:90::/64"}],
        "cluster": {"service_cidr": "10.0.0.0/24", "pod_cidr": "10.1.0.0/16"},
        "hosts": [{"name": "master", "roles": ["master"], "networks": ["srv"]}]
        + [{"name": f"node{i}", "roles": ["node"], "networks": ["srv"]} for i in range(1, hosts)],
    }, source=f"benchmark {hosts} hosts")


def netns_cycle(hosts: int) -> tuple[float, float]:
    provisioner, topo = NetnsProvisioner(), topology(hosts)
    start = time.monotonic()
    lab = provisioner.create(topo)
    up = time.monotonic() - start
    lab.host(f"node{hosts - 1}").succeed("ping -c1 -W2 master")  # it really works
    start = time.monotonic()
    lab.destroy()
    return up, time.monotonic() - start


def mininet_cycle(hosts: int) -> tuple[float, float]:
    out = subprocess.run(["/usr/bin/python3", "-c", MININET, str(hosts)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def median(cycles: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(c[0] for c in cycles), statistics.median(c[1] for c in cycles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'hosts':>5}  {'netns up':>9} {'down':>7}   {'mininet up':>10} {'down':>7}   "
          f"{'up ratio':>8} {'down ratio':>10}")
    for hosts in (5, 20):
        ours = median([netns_cycle(hosts) for _ in range(args.repeat)])
        peer = median([mininet_cycle(hosts) for _ in range(args.repeat)])
        print(f"{hosts:>5}  {ours[0]:>8.2f}s {ours[1]:>6.2f}s   {peer[0]:>9.2f}s {peer[1]:>6.2f}s   "
              f"{peer[0] / ours[0]:>7.1f}x {peer[1] / ours[1]:>9.1f}x")
    print("ratio = mininet time / netns lab time (above 1: the netns lab is faster)")


if __name__ == "__main__":
    main()
