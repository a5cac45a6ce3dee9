"""Results, diagnostics bundles, nightly, report (rendered in headless Chromium) and repro.

Real labs of the tiny 2-host topology; pytest and the harness CLI run as
subprocesses exactly as a user runs them.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import results

from harness.cli import repro

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests/fixtures/topologies/tiny.yaml"
TINY_SUITES = ROOT / "tests/fixtures/suites"
HARNESS = [str(Path(sys.executable).parent / "harness")]


def run(argv, env=None, **kw):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


def lab_ids(prefix: str) -> set[str]:
    import provisioners
    return {r.id for r in provisioners.get("netns").list() if r.id.startswith(prefix)}


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """Two nightly runs of the tiny topology (no upstream conformance tests:
    tests/test_conformance.py runs those); the second one plants a secret and fails."""
    root = tmp_path_factory.mktemp("results")
    secret = "PLANTED" + secrets.token_hex(8)
    nightly = [*HARNESS, "nightly", "--results", str(root), "--suites", str(TINY_SUITES),
               "--topology", str(TINY), "--conformance-focus", ""]
    first = run(nightly)
    second = run(nightly,
                 env={"HARNESS_TINY_FAIL": "1", "HARNESS_TINY_SECRET": secret})
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    return root, secret


def test_results_json_records_outcomes_properties_and_bundle(nightly):
    root, _ = nightly
    last = sorted(p for p in root.iterdir() if (p / "run.json").exists())[-1]
    run_result = results.read(last / "nixos")
    assert run_result.topology == "tiny" and run_result.provisioner == "netns"
    assert run_result.labs and run_result.labs[0].startswith("tiny-")
    by_name = {t.nodeid.split("::")[-1]: t for t in run_result.tests}
    assert by_name["test_route_converges"].outcome == "passed"
    assert isinstance(by_name["test_route_converges"].properties["convergence_s"], float)
    assert by_name["test_needs_bgp"].outcome == "skipped"
    assert "bgp" in by_name["test_needs_bgp"].reason
    assert run_result.components == "real"  # test_needs_bgp asked for the target
    expected = by_name["test_expected_failure"]
    assert expected.outcome == "xfailed"
    # the limitation the marker names, then what the test raised
    assert expected.reason.startswith("a documented limitation: the lab has no such file -- raised: "
                                      "AssertionError: cat failed: cat: /etc/harness-no-such-file")
    assert "\n" not in expected.reason and "assert result.ok" in expected.detail
    failed = by_name["test_planted_failure"]
    assert failed.outcome == "failed" and failed.bundle
    bundle = last / "nixos" / failed.bundle
    summary = json.loads((bundle / "bundle.json").read_text())
    assert set(summary["hosts"]) == {"master", "node1"}
    assert all(h["status"] == "ok" for h in summary["hosts"].values())
    # collected at the moment of failure: the planted log line is there (redacted)
    assert "token: <redacted>" in (bundle / "node1" / "logs.txt").read_text()
    assert "192.168.77." in (bundle / "master" / "addresses.txt").read_text()
    junit = (last / "nixos" / "junit.xml").read_text()
    assert 'name="topology" value="tiny"' in junit and 'name="convergence_s"' in junit


def test_planted_secret_absent_from_bundle_results_and_report(nightly):
    root, secret = nightly
    leaks = [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []
    assert (root / "index.html").exists()


#: what a traceback or a line of source looks like in text
TRACEBACK = re.compile(r"Traceback \(most recent|^\s*(>|E )\s|\.py:\d+|^\s*(def|assert|import) ", re.M)
#: a script added to a copy of the report: what the browser laid out, as
#: attributes of <body> that --dump-dom shows (the report itself has no script)
LAYOUT_PROBE = """<script>
window.addEventListener('load', () => {
  const m = document.getElementById('matrix');
  document.body.dataset.tableWidth = Math.ceil(m.getBoundingClientRect().right);
  document.body.dataset.pageWidth = document.documentElement.clientWidth;
  document.body.dataset.scrollWidth = document.documentElement.scrollWidth;
  document.querySelectorAll('td.cell').forEach(td => { td.dataset.text = td.innerText; });
});
</script>"""


def chromium(root: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian chromium is installed by harness/install.sh"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={root / 'chromium-profile'}", "--window-size=1280,1600"]
    return run([binary, *flags, *args])


def test_report_renders_in_headless_chromium(nightly):
    root, _ = nightly
    html = (root / "index.html").read_text()
    cells = dict(re.findall(r'data-setup="nixos" data-suite="([^"]+)" data-status="([^"]+)"', html))
    # the upstream conformance column is there; this nightly ran none of its tests
    assert cells == {"test_tiny": "failed", "conformance": "unknown"}
    # a setup that did not run has no result: unknown, never passed
    assert 'data-setup="k3s" data-suite="test_tiny" data-status="unknown"' in html
    assert 'data-setup="nixos" data-components="real"' in html
    assert 'data-setup="k3s" data-components="not-run"' in html
    assert "test_planted_failure" in re.search(r'id="flaky".*?</table>', html, re.S).group(0)
    bundle_links = re.findall(r'class="bundle" href="([^"]+)"', html)
    assert bundle_links and all((root / link / "bundle.json").exists() for link in bundle_links)
    # skip reasons once per setup, not in the cells
    skips = re.search(r'id="skips".*?</table>', html, re.S).group(0)
    assert skips.count("target lacks capability: bgp") == 1
    # the expected failure's traceback is folded away in the failures section
    failures = re.search(r'id="failures".*?</div>', html, re.S).group(0)
    assert re.search(r"<details[^>]*><summary>nixos · test_tiny · xfailed <b>[^<]*test_expected_failure", failures)
    assert TRACEBACK.search(failures), "the detail keeps the traceback"
    # redaction never eats markup: every detail is whole (a closed summary, a closed details)
    assert failures.count("<details") == failures.count("</summary>") == failures.count("</details>") == 2

    probe = root / "layout-probe.html"  # beside the report: the same relative assets
    probe.write_text(html.replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = chromium(root, "--allow-file-access-from-files", "--dump-dom", probe.as_uri()).stdout
    assert 'data-status="failed"' in dom and 'class="plot"' in dom
    body = re.search(r"<body([^>]*)>", dom).group(1)
    layout = {k: int(v) for k, v in re.findall(r'data-([a-z-]+)-width="(\d+)"', body)}
    assert layout["table"] <= layout["page"] and layout["scroll"] <= layout["page"], layout
    texts = {f"{s}/{u}": t for s, u, t in re.findall(
        r'<td class="cell[^"]*" data-setup="([^"]+)" data-suite="([^"]+)"[^>]*data-text="([^"]*)"', dom)}
    assert len(texts) == 5 * len(set(re.findall(r'data-suite="([^"]+)"', dom)))
    shown = texts["nixos/test_tiny"]
    assert "xfailed: test_expected_failure" in shown and "AssertionError: cat failed" in shown, shown
    for name, text in texts.items():
        assert not TRACEBACK.search(text.replace("&#10;", "\n")), f"{name} holds a traceback: {text}"
    shot = root / "report-screenshot.png"
    chromium(root, f"--screenshot={shot}", (root / "index.html").as_uri())
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for plot in ("durations.svg", "convergence.svg"):
        assert (root / "report-assets" / plot).read_text().lstrip().startswith(("<?xml", "<svg"))


def test_repro_overlap_case_reproduces_before_anything_is_created(tmp_path):
    before = lab_ids("overlap-repro-")
    proc = run([*HARNESS, "repro", "fixtures/repro/network-overlap.yaml", "--results", str(tmp_path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REPRODUCED" in proc.stdout
    summary = json.loads(next(tmp_path.glob("*/repro.json")).read_text())
    assert summary["reproduced"] and "must not overlap" in summary["shown"]
    assert lab_ids("overlap-repro-") - before == set()


def test_repro_blocked_node_keeps_lab_and_writes_bundle(tmp_path):
    proc = run([*HARNESS, "repro", "tests/fixtures/repro/blocked-node.yaml", "--results", str(tmp_path)])
    summary = json.loads(next(tmp_path.glob("*/repro.json")).read_text())
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert summary["reproduced"] and summary["lab"] in lab_ids("r5tiny-")
        assert f"harness shell {summary['lab']}" in proc.stdout.replace("\n", " ")
        assert summary["bundles"] and all(Path(b, "bundle.json").exists() for b in summary["bundles"])
    finally:
        if summary.get("lab"):
            run([*HARNESS, "down", summary["lab"]])
    assert summary["lab"] not in lab_ids("r5tiny-")


@pytest.mark.parametrize("mutation, key", [
    ({"expect": {"shows_as": "failed"}}, "expect.reporter"),
    # a failure without its symptom named would count whatever failed
    ({"expect": {"shows_as": "failed", "reporter": "it works"}}, "expect.symptom"),
    ({"expect": {"shows_as": "failed", "reporter": "it works", "symptom": "(unclosed"}}, "expect.symptom"),
    ({"faults": [{"kind": "explode", "host": "node1"}]}, "faults[0].kind"),
    ({"faults": [{"kind": "block", "host": "nohost"}]}, "faults[0].host"),
    ({"faults": [{"kind": "command", "host": "node1", "command": " "}]}, "faults[0].command"),
    ({"colour": "red"}, "colour"),
])
def test_bad_case_file_is_one_clear_error_and_creates_nothing(tmp_path, mutation, key):
    import yaml
    data = yaml.safe_load((ROOT / "tests/fixtures/repro/blocked-node.yaml").read_text())
    data.update(mutation)
    data["topology"] = str(TINY)
    case = tmp_path / "bad.yaml"
    case.write_text(yaml.safe_dump(data))
    before = lab_ids("r5tiny-")
    proc = run([*HARNESS, "repro", str(case), "--results", str(tmp_path / "out")])
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert str(case) in message and f"{key}:" in message
    assert not (tmp_path / "out").exists() and lab_ids("r5tiny-") == before


@pytest.mark.parametrize("case", sorted((ROOT / "fixtures/repro").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_cases_are_valid(case):
    loaded = repro.load(case)
    assert loaded.reporter and loaded.seed in {"000", "001", "004"}
