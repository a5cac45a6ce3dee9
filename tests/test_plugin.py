"""The pytest plugin as a user drives it: --keep keeps a failed run's lab and
says how to attach, --lab attaches to it without booting another, the
requires marker skips naming the capability; and lab hosts over SSH."""
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import assert_no_trace, lab_footprint

ROOT = Path(__file__).resolve().parent.parent
TINY_SUITE = ROOT / "tests" / "fixtures" / "suites" / "test_tiny.py"
TINY = ROOT / "tests" / "fixtures" / "topologies" / "tiny.yaml"


def pytest_run(*args, env=None, tmp_path):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(TINY_SUITE), "--topology", str(TINY), "-q", "-rs",
         "-p", "no:cacheprovider", "--results-dir", str(tmp_path / "results"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_keep_then_attach_with_lab(netns, tmp_path):
    before = {r.id for r in netns.list()}
    failing = pytest_run("--keep", env={"HARNESS_TINY_FAIL": "1", "HARNESS_TINY_SECRET": "s3"},
                         tmp_path=tmp_path)
    assert failing.returncode == 1, failing.stdout
    kept = re.search(r"lab (\S+) kept because a test failed; attach with `harness shell \1 master`",
                     failing.stdout)
    assert kept, failing.stdout
    lab_id = kept.group(1)
    try:
        assert lab_id not in before and lab_id in {r.id for r in netns.list()}
        attached = pytest_run("--lab", lab_id, tmp_path=tmp_path)
        assert attached.returncode == 0, attached.stdout
        assert "target lacks capability: bgp (setup nixos, lab target)" in attached.stdout
        assert {r.id for r in netns.list()} - before == {lab_id}, "--lab must not boot a lab"
    finally:
        footprint = lab_footprint(netns, lab_id)
        netns.destroy(lab_id)
    assert_no_trace(netns, lab_id, footprint["inodes"])


def test_passing_run_removes_its_lab_even_with_keep(netns, tmp_path):
    before = {r.id for r in netns.list()}
    passing = pytest_run("--keep", tmp_path=tmp_path)
    assert passing.returncode == 0, passing.stdout
    assert "kept" not in passing.stdout
    assert {r.id for r in netns.list()} == before


def test_bad_topology_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("pod_cidr: 10.1.0.0/16", "pod_cidr: 192.168.0.0/16"))
    run = subprocess.run([sys.executable, "-m", "pytest", str(TINY_SUITE), "--topology", str(bad),
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 4
    assert f"{bad}: networks.srv.ipv4: 192.168.77.0/24 overlaps cluster.pod_cidr" in run.stderr


def test_testinfra_over_ssh_and_paramiko(netns, two_hosts):
    with netns.create(two_hosts, ssh=True) as lab:
        node = lab.host("node1")
        assert node.ssh_testinfra("ssh").check_output("hostname") == "node1"
        paramiko = node.ssh_testinfra("paramiko")
        assert paramiko.check_output("hostname") == "node1"
        assert paramiko.socket("tcp://0.0.0.0:22").is_listening
