"""The results plugin (second pytest11 entry point): results JSON + JUnit
properties for every run, and a diagnostics bundle at the moment a test fails.

- `--results-dir DIR` (default results/last-run): DIR/results.json,
  DIR/junit.xml (with setup, provisioner, topology, lab ids and component
  versions as global properties) and DIR/bundles/<test>/<host>/...
- When a test fails (in setup, call or teardown) while its lab is up, every
  host of that lab is collected in parallel, each within
  `--diagnostics-timeout` seconds, before any fixture is torn down.
- Failure texts, captured output and recorded properties are redacted
  before pytest reports them anywhere (terminal, JUnit, JSON).

Under xdist each worker collects the bundles of its own lab and sends its
lab id and versions to the controller, which writes the files.
"""
from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import results

from harness.results import diagnostics


def pytest_addoption(parser):
    group = parser.getgroup("harness-results", "conformance harness results")
    group.addoption("--results-dir", default=os.environ.get("HARNESS_RESULTS_DIR", "results/last-run"),
                    help="where results.json, junit.xml and diagnostics bundles go")
    group.addoption("--diagnostics-timeout", type=float, default=30.0,
                    help="seconds each host may take to be collected when a test fails")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    directory = Path(config.getoption("--results-dir")).resolve()
    if not hasattr(config, "workerinput"):
        directory.mkdir(parents=True, exist_ok=True)
        if not config.option.xmlpath:  # junitxml reads it in its own configure, after this one
            config.option.xmlpath = str(directory / results.JUNIT_FILE)
    config.pluginmanager.register(ResultsRecorder(config, directory), "harness-results-recorder")


def _bundle_name(nodeid: str, when: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{nodeid}-{when}").strip("_")[:150]


def _redact_report(report) -> None:
    if report.longrepr is not None:
        text = str(report.longrepr)
        clean = diagnostics.redact(text)
        if clean != text:
            report.longrepr = clean
    report.sections = [(title, diagnostics.redact(body)) for title, body in report.sections]
    report.user_properties = [(name, diagnostics.redact(value) if isinstance(value, str) else value)
                              for name, value in report.user_properties]


def _failure_line(report) -> str:
    """The exception's type and message in one line (set by makereport from
    the exception itself), else the first line pytest's crash summary has."""
    line = getattr(report, "harness_reason", "")
    if not line:
        crash = getattr(report.longrepr, "reprcrash", None)
        line = results.one_line(crash.message if crash is not None else str(report.longrepr or ""))
    return diagnostics.redact(line)


def _failure_detail(report) -> str:
    text = str(report.longrepr or "")
    return diagnostics.redact(text[-results.DETAIL_CHARS:])


def _topology_of(config):
    from harness.pytest_plugin import lab as plugin
    from harness.model import topology
    try:
        return plugin.session_topology(config)
    except (topology.TopologyError, OSError):
        return None


class ResultsRecorder:
    """The per-session state and hooks (one instance per pytest config)."""

    def __init__(self, config, directory: Path):
        self.config = config
        self.dir = directory
        self.labs: dict = {}  # lab id -> Lab (None for labs of xdist workers)
        self.versions: dict[str, str] = {}
        self.components = ""  # "real" (the target has the Kubernetes API) or "stand-ins"
        self.timelines: dict[str, list[dict]] = {}  # lab id -> the apply's spans
        self.tests: dict[str, results.TestResult] = {}
        self.started = time.time()
        self.run: results.RunResult | None = None  # the controller's, once the session finished

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        value = yield
        if fixturedef.argname == "lab":
            self.labs[value.id] = value
        elif fixturedef.argname == "target":
            self.versions.update(results.component_versions(value.lab))
            self.components = results.components_of(value)
            if value.timeline.spans:  # an attached cluster was not applied here
                self.timelines[value.lab.id] = value.timeline.as_records()
        return value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None and (report.failed or hasattr(report, "wasxfail")):
            # a plain attribute: xdist sends a report's __dict__ to the controller
            # the class's own name and the message (exconly() would name its module too)
            report.harness_reason = results.one_line(str(call.excinfo.value), call.excinfo.typename)
        _redact_report(report)
        labs = [lab for lab in self.labs.values() if lab is not None]
        if report.failed and labs:
            dest = self.dir / "bundles" / _bundle_name(item.nodeid, report.when)
            context = {"test": item.nodeid, "phase": report.when,
                       "failure": str(report.longrepr)[-4000:]}
            for lab in labs:
                diagnostics.collect(lab, dest if len(labs) == 1 else dest / lab.id,
                                    host_timeout=self.config.getoption("--diagnostics-timeout"),
                                    context=context)
            report.user_properties.append(("diagnostics_bundle", str(dest.relative_to(self.dir))))
        return report

    def pytest_runtest_logreport(self, report):
        """Fold the setup/call/teardown reports of a test into one TestResult.

        A test whose call phase never reported stays "unknown".
        """
        test = self.tests.setdefault(report.nodeid, results.TestResult(
            report.nodeid, results.suite_of(report.nodeid), "unknown"))
        test.duration = round(test.duration + report.duration, 3)
        for name, value in report.user_properties:
            if name == "diagnostics_bundle":
                test.bundle = test.bundle or value
            else:
                test.properties[name] = value
        outcome = results.outcome_of(report)
        if hasattr(report, "wasxfail"):
            # an expected failure: the limitation named (the marker's reason)
            # and what the test raised, which must be that limitation
            test.outcome = outcome
            test.reason = f"{report.wasxfail} -- raised: {_failure_line(report)}" if report.skipped \
                else report.wasxfail
            test.detail = _failure_detail(report) if report.skipped else ""
        elif report.skipped:
            test.outcome, test.reason = "skipped", results.skip_reason(report)
        elif report.when == "call" or (report.failed and test.outcome in ("unknown", "passed")):
            test.outcome = outcome
            test.reason = _failure_line(report) if report.failed else ""
            test.detail = _failure_detail(report) if report.failed else ""

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        payload = getattr(node, "workeroutput", {}).get("harness_results")
        if payload:
            data = json.loads(payload)
            self.labs.update({lab_id: None for lab_id in data["labs"]})
            self.versions.update(data["versions"])
            self.components = self.components or data.get("components", "")
            self.timelines.update(data.get("timelines", {}))

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session, exitstatus):
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["harness_results"] = json.dumps(
                {"labs": list(self.labs), "versions": self.versions, "components": self.components,
                 "timelines": self.timelines})
            return
        topo = _topology_of(self.config)
        run = results.RunResult(
            setup=topo.setup if topo else None, topology=topo.name if topo else None,
            provisioner=self.config.getoption("--provisioner"), labs=sorted(self.labs),
            versions=dict(sorted(self.versions.items())), started=self.started,
            finished=time.time(), exit_status=int(exitstatus),
            tests=sorted(self.tests.values(), key=lambda t: t.nodeid), components=self.components,
            timelines=self.timelines)
        run.write(self.dir)
        self.run = run

    def pytest_unconfigure(self, config):
        """The run's setup, topology, provisioner, lab ids and component
        versions become global properties of the JUnit file, which pytest's
        junitxml has written in its pytest_sessionfinish."""
        run, path = self.run, config.option.xmlpath
        if run is None or not path or not Path(path).is_file():
            return
        properties = [(name, getattr(run, name) or "")
                      for name in ("setup", "topology", "provisioner", "components")]
        properties.append(("labs", " ".join(run.labs)))
        properties += [(f"version.{component}", version) for component, version in run.versions.items()]
        _add_junit_global_properties(Path(path), properties)


def _add_junit_global_properties(path: Path, properties: list[tuple[str, str]]) -> None:
    tree = ET.parse(path)
    root = tree.getroot()
    for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
        element = suite.find("properties")
        if element is None:
            element = ET.Element("properties")
            suite.insert(0, element)
        for name, value in properties:
            ET.SubElement(element, "property", name=name, value=str(value))
    tree.write(path, encoding="utf-8", xml_declaration=True)
