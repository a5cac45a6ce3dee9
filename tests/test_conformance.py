"""`harness conformance`: the upstream e2e.test (built from our go.mod) against
a real fcio-k8s lab, through the harness's tunnel, into results and report.

CI runs a focused handful (one DNS, one Services, one Pods test); the
harness CLI runs as a subprocess exactly as a user runs it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import conformance, results
from harness.conformance.skips import SKIPPED

ROOT = Path(__file__).resolve().parent.parent
HARNESS = [str(Path(sys.executable).parent / "harness")]
DNS_TEST = conformance.CI_TESTS[0]


def harness(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*HARNESS, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})


# --- what needs no cluster ---

@pytest.mark.parametrize("name", [*SKIPPED, *conformance.CI_TESTS])
def test_names_become_literal_patterns(name):
    pattern = conformance.go_regexp_escape(name)
    assert re.fullmatch(pattern, name) and not re.fullmatch(pattern, name + "x")


def test_skip_pattern_keeps_the_default_and_names_every_listed_test():
    selection = conformance.Selection()
    assert selection.skip_with_list.startswith(r"\[Serial\]|\[Disruptive\]|")
    assert all(re.search(selection.skip_with_list, name) for name in SKIPPED)
    assert not re.search(selection.skip_with_list, DNS_TEST + " [Conformance]")


#: e2e.test --ginkgo.v output as measured (lines cut; the second test made to fail)
GINKGO_SERIAL_OUTPUT = """\
Running Suite: Kubernetes e2e suite - /work/wt-conformance-report
Will run 2 of 7144 specs
------------------------------
[SynchronizedBeforeSuite] 
k8s.io/kubernetes@v1.34.4/test/e2e/e2e.go:69
  I1203 17:11:49.167155 24141 helper.go:51] Waiting up to 30m0s for all (but 0) nodes to be schedulable
[SynchronizedBeforeSuite] PASSED [0.165 seconds]
------------------------------
SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS
------------------------------
[sig-network] DNS should provide DNS for services [Conformance] [sig-network, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/network/dns.go:152
  STEP: Creating a kubernetes client @ 12/03/26 17:11:50.291
I1203 17:11:50.295245 24141 util.go:454] not a test's name
• [9.622 seconds]
------------------------------
SSSSSSSSSSSSSSSSSSSSSSSSS
------------------------------
[sig-node] Pods should contain environment variables for services [NodeConformance] [Conformance] [sig-node, NodeConformance, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/common/node/pods.go:445
• [FAILED] [300.100 seconds]
[sig-node] Pods [It] should contain environment variables for services [NodeConformance] [Conformance]
------------------------------
SSSSSSSSSS
Ran 2 of 7144 Specs in 311.166 seconds
"""


def test_progress_follows_ginkgo_output():
    progress = conformance.Progress()
    messages = [m for line in GINKGO_SERIAL_OUTPUT.splitlines() if (m := progress.feed(line))]
    assert messages[0] == "conformance: 2 of 7144 tests selected"
    assert messages[1] == "conformance: 0/2 done; running [SynchronizedBeforeSuite]"
    assert f"running {DNS_TEST} [Conformance]" in messages[2]
    assert "1/2 done (0 failed), last passed in 10s" in messages[3]
    assert progress.total == 2 and progress.done == 2 and progress.failed == 1
    assert progress.current.startswith("[sig-node] Pods should contain")  # not a log or S line
    assert messages[-1].startswith("conformance: 2/2 done (1 failed), last failed")
    assert not any("SSS" in m or "Ran 2" in m for m in messages), messages


#: `ginkgo --procs=2 e2e.test` output as measured: a spec is reported when it is over
GINKGO_PARALLEL_OUTPUT = """\
Will run 62 of 7144 specs
------------------------------
[SynchronizedBeforeSuite] PASSED [0.357 seconds]
------------------------------
• [7.012 seconds]
[sig-network] Services should be able to switch session affinity for service with type clusterIP [LinuxOnly] [Conformance] [sig-network, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/network/service.go:2209
------------------------------
"""


def test_progress_in_parallel_names_finished_tests_never_as_running():
    progress = conformance.Progress()
    messages = [m for line in GINKGO_PARALLEL_OUTPUT.splitlines() if (m := progress.feed(line))]
    assert messages[1] == "conformance: 1/62 done (0 failed), last passed in 7s"
    assert messages[2].startswith("conformance: 1/62 done; finished [sig-network] Services should be")
    assert progress.current == "" and "parallel" in progress.running()


def test_usage_errors_are_one_line_and_run_nothing(tmp_path):
    both = harness("conformance", "some-lab", "--kubeconfig", str(tmp_path / "k"))
    assert both.returncode == 2 and "a LAB or --kubeconfig FILE" in both.stderr
    missing = harness("conformance", "--kubeconfig", str(tmp_path / "nothing"), "--results", str(tmp_path))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert harness("conformance", "x", "--parallel", "0").returncode == 2
    assert list(tmp_path.iterdir()) == []


# --- against a real fcio-k8s lab ---

@pytest.fixture(scope="module")
def fcio_lab():
    up = harness("up", "fixtures/topologies/fcio-k8s.yaml", "--apply", timeout=900)
    assert up.returncode == 0, up.stderr[-3000:]
    lab = re.search(r"lab (\S+) is up", up.stdout).group(1)
    try:
        yield lab
    finally:
        down = harness("down", lab, timeout=600)
        assert down.returncode == 0, down.stderr


def test_ci_handful_passes_and_the_report_shows_it(fcio_lab, tmp_path):
    focus = conformance.names_pattern(conformance.CI_TESTS)
    run = harness("conformance", fcio_lab, "--focus", focus, "--results", str(tmp_path), timeout=2400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "conformance: 3 of " in run.stderr and "3/3 done (0 failed)" in run.stderr
    [setup_dir] = [p for p in tmp_path.glob("*/fcio-k8s")]
    log = (setup_dir / conformance.LOG_FILE).read_text()
    assert "Ran 3 of" in log and "SUCCESS!" in log
    junit = ET.parse(setup_dir / conformance.JUNIT_FILE).getroot()
    passed = [c.get("name") for c in junit.iter("testcase") if c.get("status") == "passed"]
    assert all(any(name in p for p in passed) for name in conformance.CI_TESTS), passed
    found = results.read(setup_dir)
    mine = [t for t in found.tests if t.suite == "conformance"]
    assert sorted(t.outcome for t in mine) == ["passed"] * 3, [(t.nodeid, t.outcome, t.reason) for t in mine]
    assert found.components == "real" and found.labs == [fcio_lab]
    assert any("v1.34" in v for v in found.versions.values()), found.versions
    html = (tmp_path / "index.html").read_text()
    cell = re.search(r'<td class="cell passed" data-setup="fcio-k8s" data-suite="conformance" '
                     r'data-status="passed">.*?</td>', html, re.S)
    assert cell and "3 passed" in cell.group(0)
    assert 'data-setup="fcio-k8s" data-components="real"' in html


#: a test that cannot end within a minute: two jobs of a `*/1` CronJob must be
#: active at once, which takes two minute boundaries
SLOW_TEST = "[sig-apps] CronJob should schedule multiple jobs concurrently"


def test_a_run_over_its_time_names_the_test_it_was_running(fcio_lab, tmp_path):
    run = harness("conformance", fcio_lab, "--focus", conformance.go_regexp_escape(SLOW_TEST),
                  "--timeout", "40", "--results", str(tmp_path), timeout=900)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"running then: {SLOW_TEST}" in run.stdout + run.stderr
    [setup_dir] = [p for p in tmp_path.glob("*/fcio-k8s")]
    [test] = [t for t in results.read(setup_dir).tests if t.suite == "conformance"]
    assert test.outcome == "timeout" and SLOW_TEST in test.nodeid, test
    assert "ran over its 40s" in test.reason
    leftover = subprocess.run(["pgrep", "-f", str(setup_dir)], capture_output=True, text=True)
    assert leftover.stdout.split() == [], "e2e.test or its children outlived the run"
