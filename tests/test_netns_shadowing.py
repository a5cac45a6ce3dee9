"""Netns labs and other users of /run/netns (iproute2, podman, CNI): a lab's
namespace pins are never hidden by them, and removal finds pins that an
earlier run or another tool did hide. Each scenario runs in a private mount
namespace (tests/netns_shadowing.py) so that it can put /run/netns back to a
fresh machine's state without touching any other lab.

That namespace runs on one CPU: on this kernel (6.18) mount namespace ids are
handed out per CPU, so a namespace made on one CPU can get a lower id than
its parent made on the other, and pinning it from that (non-initial) parent
fails with EINVAL (the kernel's mount-loop check compares the ids). In the
machine's own mount namespace, which has the lowest id, this cannot happen."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "netns_shadowing.py"


@pytest.mark.parametrize("scenario", [
    "iproute2_after_harness",
    "pins_of_an_earlier_run",
    "plain_bind_over_pins",
    "other_filesystem_over_pins",
    "down_all",
])
def test_lab_removal_survives_shadowed_pins(scenario):
    cpu = min(os.sched_getaffinity(0))
    proc = subprocess.run(["taskset", "-c", str(cpu), "unshare", "--mount", "--propagation",
                           "private", sys.executable, str(SCRIPT), scenario],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], result["detail"]
