"""The upstream Kubernetes conformance tests (e2e.test, built from our go.mod)
against a cluster, into the harness's results.

    run(e2e_test, kubeconfig_path, results_dir, Selection(), report=print)

e2e.test runs in the harness's own process tree and network namespace, with
a kubeconfig for `https://127.0.0.1:<port>`: for a lab that port is the
loopback tunnel the harness holds into the master (harness/lab/tunnel.py),
so this process must stay up while e2e.test runs (`harness conformance
LAB`); for a cluster given by kubeconfig it is whatever the file names.
Running it here rather than inside the master keeps one path for both, needs
no route into the lab and writes results straight into the results directory.

Writes e2e.log (e2e.test's output) and junit_01.xml (its JUnit report) into
the results directory and merges the tests, suite "conformance", into that
directory's results.json beside the suites'. Tests not selected by the focus
and skip patterns are left out; a selected test that cannot run here
(skips.SKIPPED) is skipped by name and listed with its reason.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import results
from harness.conformance.skips import SKIPPED

SUITE = results.CONFORMANCE_SUITE
#: every [Conformance] test that may run beside others
DEFAULT_FOCUS = r"\[Conformance\]"
DEFAULT_SKIP = r"\[Serial\]|\[Disruptive\]"
LOG_FILE = "e2e.log"
JUNIT_FILE = "junit_01.xml"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
#: after an interrupt, the time e2e.test gets to clean up and write its report
GRACE_S = 120.0
#: CI's handful on fcio-k8s: one DNS, one Services, one Pods test (about a minute each)
CI_TESTS = ("[sig-network] DNS should provide DNS for services",
            "[sig-network] Services should be able to create a functioning NodePort service",
            "[sig-node] Pods should contain environment variables for services")


class ConformanceError(RuntimeError):
    pass


def go_regexp_escape(text: str) -> str:
    """`text` as a literal in a Go (RE2) regular expression."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def names_pattern(names: tuple[str, ...] | list[str]) -> str:
    return "|".join(go_regexp_escape(n) for n in names)


@dataclass
class Selection:
    focus: str = DEFAULT_FOCUS
    skip: str = DEFAULT_SKIP
    parallel: int = 1
    timeout: float = 4 * 3600
    dns_domain: str = "cluster.local"

    @property
    def skip_with_list(self) -> str:
        """The skip pattern plus every test skips.SKIPPED names."""
        return "|".join(filter(None, [self.skip, names_pattern(list(SKIPPED))]))

    def selects(self, name: str) -> bool:
        """Whether the focus pattern takes this test (RE2 read as Python's re)."""
        try:
            return re.search(self.focus, name) is not None
        except re.error:
            return True


#: ginkgo's line when a spec ends: "• [12.3 seconds]", "• [FAILED] [..]", "S [SKIPPED] [..]"
_SPEC_END = re.compile(r"^\s*(?:•|S|P)\s*(?:\[(?P<state>[A-Z]+)\]\s*)*(?:\[SLOW TEST\]\s*)?"
                       r"\[(?P<seconds>[\d.]+) seconds\]")
_WILL_RUN = re.compile(r"Will run (\d+) of (\d+) specs")
_DELIMITER = re.compile(r"^-{20,}$")
#: after a delimiter, lines that name no test: the dots of skipped specs, the summary
_NOT_A_TITLE = re.compile(r"^[S•P]+$|^Ran \d+ of \d+ Specs|^(SUCCESS|FAIL)!|^(PASS|FAIL)$|^Summarizing |"
                          r"^\[[A-Za-z]+\] (PASSED|FAILED) \[")  # a suite node's end, in parallel runs


@dataclass
class Progress:
    """What e2e.test's verbose output tells: how many tests, how many done,
    which one runs now (and since when)."""
    total: int | None = None
    done: int = 0
    failed: int = 0
    current: str = ""
    started: float = field(default_factory=time.monotonic)
    _title_next: bool = False
    _ended: bool = False  # a spec's end line came after the last delimiter

    def feed(self, line: str) -> str | None:
        """Take one line of output; a progress message when a test starts or ends."""
        line = line.rstrip("\n")
        if found := _WILL_RUN.search(line):
            self.total = int(found.group(1))
            return f"conformance: {self.total} of {found.group(2)} tests selected"
        if _DELIMITER.match(line.strip()):
            self._title_next, self._ended = True, False
            return None
        if found := _SPEC_END.match(line):
            self.done += 1
            state = (found.group("state") or "passed").lower()
            self.failed += state in ("failed", "panicked", "timedout", "interrupted", "aborted")
            self._ended = True
            # serial runs stream: title after the delimiter, then the end line; parallel
            # runs report at the end: delimiter, end line, then the title (kept expected)
            return f"conformance: {self.done}/{self.total or '?'} done ({self.failed} failed), " \
                   f"last {state} in {float(found.group('seconds')):.0f}s"
        if self._title_next and line.strip() and not line.startswith(" ") \
                and not _NOT_A_TITLE.match(line):
            self._title_next = False
            title = re.sub(r"^\[It\]\s+", "", line.strip())
            if self._ended:  # parallel processes report a spec when it is over
                return f"conformance: {self.done}/{self.total or '?'} done; finished {title}"
            self.current, self.started = title, time.monotonic()
            return f"conformance: {self.done}/{self.total or '?'} done; running {self.current}"
        return None

    def running(self) -> str:
        if not self.current:
            return "no test seen starting (the suite's setup, or parallel processes, which name a test when it ends)"
        return f"{self.current} (for {time.monotonic() - self.started:.0f}s)"


def e2e_argv(e2e_test: Path, kubeconfig: str, report_dir: Path, kubectl: Path, selection: Selection,
             ginkgo: Path | None = None) -> list[str]:
    """The command line: e2e.test itself, or under the ginkgo CLI for parallel runs."""
    ginkgo_flags = {"focus": selection.focus, "skip": selection.skip_with_list, "v": None,
                    "no-color": None, "timeout": f"{int(selection.timeout + GRACE_S * 2)}s"}
    e2e_flags = [f"--kubeconfig={kubeconfig}", "--provider=skeleton", f"--report-dir={report_dir}",
                 f"--kubectl-path={kubectl}", f"--dns-domain={selection.dns_domain}",
                 "--disable-log-dump"]

    def flags(prefix: str) -> list[str]:
        return [f"--{prefix}{k}" if v is None else f"--{prefix}{k}={v}" for k, v in ginkgo_flags.items()]
    if selection.parallel > 1:
        if ginkgo is None:
            raise ConformanceError("--parallel needs the ginkgo CLI among the artifacts "
                                   "(`harness artifacts build`)")
        return [str(ginkgo), f"--procs={selection.parallel}", *flags(""), str(e2e_test), "--", *e2e_flags]
    return [str(e2e_test), *flags("ginkgo."), *e2e_flags]


def execute(argv: list[str], log_path: Path, timeout: float, report: Callable[[str], None],
            pass_fds: tuple[int, ...] = ()) -> tuple[int, Progress, tuple[str, str] | None]:
    """Run e2e.test, its output into log_path, progress to `report`; past
    `timeout` it is interrupted (then killed). Returns (exit code, progress,
    None or, when it ran over, (the reason, naming the test that was running;
    that test's name))."""
    progress = Progress()
    with log_path.open("w") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True, pass_fds=pass_fds,
                                env=_environment())

        def read() -> None:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if message := progress.feed(line):
                    report(message)
        reader = threading.Thread(target=read, name="e2e.test output", daemon=True)
        reader.start()
        hung = None
        try:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                hung = (f"e2e.test ran over its {timeout:.0f}s; running then: {progress.running()}",
                        progress.current)
                report(f"conformance: {hung[0]}; interrupting it")
                _stop(proc)
        except BaseException:  # Ctrl-C, SIGTERM: e2e.test and its kubectl children go too
            _stop(proc)
            raise
        finally:
            reader.join(timeout=30)
    return proc.returncode, progress, hung


def _environment() -> dict[str, str]:
    """e2e.test's environment: no proxy, whatever ours says (the API is a
    loopback port of this process; a proxy would not reach it)."""
    return {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to e2e.test's process group (ginkgo cleans up, writes its
    report), SIGKILL after GRACE_S."""
    for sig, wait in ((signal.SIGINT, GRACE_S), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _failure_reason(kind: str, text: str) -> str:
    """One line of a ginkgo failure: "[FAILED] message" -> "failed: message"."""
    for line in text.splitlines():
        found = re.match(r"\s*\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]\s*(.*)", line)
        if found and found.group(2).strip():
            return results.one_line(found.group(2), found.group(1).lower())
    return results.one_line(text, kind)


#: ginkgo's suite-level nodes: [SynchronizedBeforeSuite], [ReportAfterSuite] ..., [DeferCleanup (Suite)]
_SUITE_NODE = re.compile(r"\[(Synchronized)?(Before|After)Suite\]|\[Report(Before|After)Suite\]|"
                         r"\[DeferCleanup \(Suite\)\]")


def parse_junit(path: Path, selection: Selection) -> list[results.TestResult]:
    """The tests of e2e.test's JUnit report that the selection took."""
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = re.sub(r"^\[It\]\s+", "", case.get("name", "")).strip()
        duration = float(case.get("time") or 0)
        status = (case.get("status") or "").lower()
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        suite_node = _SUITE_NODE.match(name) is not None
        if suite_node and failure is None:
            continue  # the suite's own setup and reports: a result only when they fail
        test = results.TestResult(name, SUITE, "passed", round(duration, 3))
        if skipped is not None:
            message = (skipped.get("message") or "").strip()
            if name in SKIPPED and selection.selects(name):
                test.outcome, test.reason = "skipped", SKIPPED[name]
            elif message in ("", "skipped"):
                continue  # not selected by focus and skip
            else:
                test.outcome, test.reason = "skipped", re.sub(r"^skipped\s*-\s*", "", message)
        elif failure is not None:
            text = failure.text or failure.get("message") or ""
            test.outcome = ("timeout" if status in ("timedout", "interrupted")
                            else "error" if suite_node else "failed")
            test.reason = _failure_reason(failure.get("type") or status or "failed", text)
            test.detail = text[-results.DETAIL_CHARS:]
        tests.append(test)
    return tests


def merge(results_dir: Path, tests: list[results.TestResult], meta: dict) -> results.RunResult:
    """The conformance tests into results_dir/results.json, replacing earlier
    conformance results and keeping the suites' (meta: the run's fields, used
    where the directory has no results yet)."""
    run = results.read(results_dir) or results.RunResult(**meta)
    run.components = run.components or meta.get("components", "")
    run.versions = {**meta.get("versions", {}), **run.versions}
    run.tests = sorted([t for t in run.tests if t.suite != SUITE] + tests, key=lambda t: t.nodeid)
    run.finished = time.time()
    run.write(results_dir)
    return run


def run(e2e_test: Path, kubeconfig: str, results_dir: Path, kubectl: Path, selection: Selection,
        meta: dict, report: Callable[[str], None] = print, ginkgo: Path | None = None,
        pass_fds: tuple[int, ...] = ()) -> tuple[results.RunResult, str | None]:
    """Run the selection; results merged into results_dir. Returns the
    results and, when e2e.test ran over its time, the reason naming what it was running."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / JUNIT_FILE).unlink(missing_ok=True)
    meta = {"started": time.time(), **meta}
    argv = e2e_argv(e2e_test, kubeconfig, results_dir, kubectl, selection, ginkgo)
    code, progress, hung = execute(argv, results_dir / LOG_FILE, selection.timeout, report, pass_fds)
    junit = results_dir / JUNIT_FILE
    if junit.exists():
        tests = parse_junit(junit, selection)
    else:
        tests = []
    reason = hung[0] if hung else None
    if hung and hung[1]:
        # the output's title is the JUnit name, labels appended
        running = [t for t in tests if hung[1].startswith(t.nodeid) and t.outcome != "passed"]
        for test in running:
            test.outcome, test.reason = "timeout", reason
        if not running:
            tests.append(results.TestResult(hung[1], SUITE, "timeout", reason=reason))
    if not tests:
        tail = "".join((results_dir / LOG_FILE).read_text(errors="replace").splitlines(True)[-15:])
        raise ConformanceError(f"e2e.test (exit {code}) reported no test"
                               f"{' (' + reason + ')' if reason else ''}; the end of "
                               f"{results_dir / LOG_FILE}:\n{tail}")
    return merge(results_dir, tests, {**meta, "exit_status": code}), reason
