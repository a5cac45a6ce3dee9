"""The results of one pytest run: a JSON file next to the JUnit XML.

results.json holds the run's setup, provisioner, topology, lab ids, the
component versions reported by the binaries running in the lab, and per test
its outcome, duration, skip reason, recorded properties (the convergence
times suites measure) and the diagnostics bundle taken when it failed.

Outcomes follow Sonobuoy: passed, failed, error, skipped, and timeout is a
status of its own (a wait or a test that ran out of time); xfailed and
xpassed are pytest's expected failures (a documented limitation). A run that
produced no result for something leaves it "unknown", never passed.

A failure's `reason` is one line, the exception's type and message (what a
report shows); its `detail` is the traceback (folded away in the report).
`components` says whether the run drove real Kubernetes components
("real") or the lab target's stand-ins ("stand-ins").
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.setups import observers
from provisioners import lab_ssh

if TYPE_CHECKING:
    from harness.lab import Lab

RESULTS_FILE = "results.json"
#: the suite name of the upstream Kubernetes conformance tests (e2e.test, harness.conformance)
CONFORMANCE_SUITE = "conformance"
JUNIT_FILE = "junit.xml"

#: every component's version probe: the parts' and the lab's own sshd
VERSION_PROBES = [*observers.VERSION_PROBES, *lab_ssh.VERSION_PROBES]
_TIMEOUT_MARKERS = ("WaitTimeout", "Failed: Timeout", "TimeoutExpired", "timed out after")


@dataclass
class TestResult:
    nodeid: str
    suite: str
    outcome: str
    duration: float = 0.0
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    bundle: str | None = None
    detail: str = ""            #: the traceback or log excerpt behind `reason`


@dataclass
class RunResult:
    setup: str | None = None
    topology: str | None = None
    provisioner: str | None = None
    labs: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    exit_status: int | None = None
    tests: list[TestResult] = field(default_factory=list)
    components: str = ""        #: "real", "stand-ins" or "" (not known)
    #: per lab, each part's and host's start and end (seconds from the apply's
    #: start) as its setup was applied (harness.lab.timeline)
    timelines: dict[str, list[dict]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def write(self, directory: Path | str) -> Path:
        path = Path(directory) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


def read(directory: Path | str) -> RunResult | None:
    """The run stored in directory, or None when it wrote no results file."""
    path = Path(directory) / RESULTS_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    tests = [TestResult(**t) for t in data.pop("tests", [])]
    return RunResult(**data, tests=tests)


def suite_of(nodeid: str) -> str:
    """suites/test_etcd.py::test_x[a] -> test_etcd"""
    module = nodeid.split("::", 1)[0]
    return Path(module).stem


def outcome_of(report) -> str:
    """The status of a pytest report for one phase, timeouts told apart from failures."""
    expected_failure = hasattr(report, "wasxfail")
    if report.passed:
        return "xpassed" if expected_failure else "passed"
    if report.skipped:
        return "xfailed" if expected_failure else "skipped"
    text = str(report.longrepr or "")
    if any(marker in text for marker in _TIMEOUT_MARKERS):
        return "timeout"
    return "failed" if report.when == "call" else "error"


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return re.sub(r"^Skipped: ", "", str(longrepr[2]))
    return str(longrepr or "")


#: the longest one-line reason kept (the detail holds the rest)
REASON_CHARS = 300
#: the tail of a traceback kept as the detail
DETAIL_CHARS = 6000


def one_line(text: str, kind: str = "") -> str:
    """`kind: first line of text`, cut to REASON_CHARS: what a report shows of
    a failure (an exception's type and message, never its traceback)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if kind and not first.startswith(kind):
        first = f"{kind}: {first}" if first else kind
    return first if len(first) <= REASON_CHARS else first[:REASON_CHARS - 1] + "…"


def components_of(target) -> str:
    """"real" when the target drives a Kubernetes API (real components), else
    "stand-ins" (the lab target: real daemons standing in for a control plane);
    then, after "; ", what stands in for a component the document names."""
    kind = "real" if target.has("k8s-api") else "stand-ins"
    return "; ".join([kind, *getattr(target, "stand_ins", ())])


def _version_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _host_versions(host) -> dict[str, str]:
    from harness.results.diagnostics import HOST_SHELL_FUNCTIONS
    listing = host.run(HOST_SHELL_FUNCTIONS + 'for p in $(host_pids); do cat "/proc/$p/comm"; done',
                       timeout=10)
    running = set(listing.stdout.split())
    found = {}
    for probe in VERSION_PROBES:
        if probe.process[:15] in running:  # comm is cut at 15 characters
            result = host.run(probe.command, timeout=10)
            line = _version_line(result.stdout or result.stderr)
            if line:
                found[probe.component] = line
    return found


def component_versions(lab: Lab) -> dict[str, str]:
    """Component -> version line, as reported by the binaries running in the lab.

    Asked per host in parallel; only components whose process runs somewhere
    in the lab are listed (what the lab runs, not what is installed).
    """
    versions: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(lab.hosts))) as pool:
        for found in pool.map(_safe_host_versions, lab.hosts.values()):
            for component, line in found.items():
                versions.setdefault(component, line)
    return dict(sorted(versions.items()))


def _safe_host_versions(host) -> dict[str, str]:
    try:
        return _host_versions(host)
    except Exception:  # noqa: BLE001 - a crashed host reports no versions
        return {}
