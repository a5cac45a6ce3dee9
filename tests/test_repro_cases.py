"""The shipped repro cases reproduce the problems of their seeds, for real:
each boots its lab, injects its faults, runs its selection, keeps the lab
(printing how to attach) and writes a bundle."""
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(ROOT / ".venv" / "bin" / "harness")


@pytest.mark.parametrize("case", ["haproxy-port-change", "bgp-session-lost", "etcd-rejoin-hang"])
def test_shipped_case_reproduces(case, tmp_path):
    run = subprocess.run([HARNESS, "repro", str(ROOT / "fixtures" / "repro" / f"{case}.yaml"),
                          "--results", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "300"})
    kept = re.search(r"lab (\S+) kept: attach with `harness shell \1 \S+`", run.stdout)
    try:
        assert run.returncode == 0 and f"REPRODUCED: {case}" in run.stdout, run.stdout + run.stderr
        assert kept, "the lab must be kept, with the way to attach printed"
        summary = json.loads(next(tmp_path.glob(f"{case}-*/repro.json")).read_text())
        assert summary["reproduced"] and summary["shown"]
        assert summary["bundles"] and all(Path(b).is_dir() for b in summary["bundles"])
        if case == "etcd-rejoin-hang":  # the bundle shows etcd's own member list, the stale member in it
            for bundle in summary["bundles"]:
                members = (Path(bundle) / "cp1" / "etcd-members.txt").read_text()
                assert {"cp1", "cp2", "cp3"} <= set(re.findall(r"\|\s*(cp\d)\s*\|", members)), members
    finally:
        if kept:
            subprocess.run([HARNESS, "down", kept.group(1)], cwd=ROOT, capture_output=True)


def test_a_failure_without_the_symptom_is_not_reproduced(tmp_path):
    """Only the case's symptom counts: haproxy-port-change's selection failing
    on a frontend cut off from the pods (HAProxy never sees a pod UP) is not
    the port-change limitation; the lab the failure kept is named."""
    case = ROOT / "tests" / "fixtures" / "repro" / "frontend-cut-is-not-a-port-change.yaml"
    run = subprocess.run([HARNESS, "repro", str(case), "--results", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "300"})
    kept = re.search(r"lab (\S+) kept: attach with", run.stdout)
    try:
        assert run.returncode == 1 and "NOT reproduced: frontend-cut-not-port-change" in run.stdout, \
            run.stdout + run.stderr
        summary = json.loads(next(tmp_path.glob("*/repro.json")).read_text())
        assert summary["reproduced"] is False and summary["shown"] == []
        [other] = summary["other_failures"]
        assert re.match(r"suites/test_haproxy\.py::test_changed_pod_port_is_picked_up: timeout: "
                        r"WaitTimeout: timed out after [\d.]+s waiting for HAProxy UP servers", other), other
        assert kept, "the lab the failure kept must be named"
    finally:
        if kept:
            subprocess.run([HARNESS, "down", kept.group(1)], cwd=ROOT, capture_output=True)
