"""The setup x suite matrix of one run: one status per cell, with counts.

Zero results for a cell is "unknown", never "passed" (Sonobuoy's rule); a
timeout is a status of its own. A cell carries its failures (failed, error,
timeout and expected failures) as one-line reasons, each with its detail
(traceback, log excerpt) kept apart for the report to fold away. Skip
reasons are not per cell: `skips` groups them once per setup.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness import results

#: the worst status of a cell's tests wins, in this order
PRECEDENCE = ("failed", "error", "timeout", "xpassed", "passed", "xfailed", "skipped", "unknown")
#: outcomes a cell lists with their reason
LISTED = ("failed", "error", "timeout", "xfailed")
#: the suite name of the upstream Kubernetes conformance tests (e2e.test)
CONFORMANCE = results.CONFORMANCE_SUITE


@dataclass
class Failure:
    nodeid: str
    outcome: str
    reason: str             #: one line: the exception's type and message
    detail: str             #: the traceback behind it (folded away in the report)
    bundle: str | None      #: the diagnostics bundle's directory
    anchor: str = ""        #: where the report shows the detail

    @property
    def name(self) -> str:
        """The test's own name: the last part of a pytest node id."""
        return self.nodeid.split("::")[-1]


@dataclass
class Cell:
    status: str = "unknown"
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.counts:
            return "no results"
        return ", ".join(f"{self.counts[o]} {o}" for o in PRECEDENCE if self.counts.get(o))


@dataclass
class SkipGroup:
    """One skip reason of one setup, with the tests it skipped."""
    reason: str
    suites: list[str] = field(default_factory=list)
    tests: int = 0


def cell_of(rows: list[tuple[str, str, str, str | None, str]]) -> Cell:
    """rows: (nodeid, outcome, reason, bundle, detail) of one setup and suite in one run."""
    cell = Cell()
    for nodeid, outcome, reason, bundle, detail in rows:
        cell.counts[outcome] = cell.counts.get(outcome, 0) + 1
        if outcome in LISTED:
            cell.failures.append(Failure(nodeid, outcome, reason or "", detail or "", bundle))
    cell.failures.sort(key=lambda f: (LISTED.index(f.outcome), f.nodeid))
    for status in PRECEDENCE:
        if cell.counts.get(status):
            cell.status = status
            break
    return cell


def build(db, run: str, setups: list[str], suites: list[str]) -> dict[tuple[str, str], Cell]:
    rows: dict[tuple[str, str], list] = {}
    for setup, suite, nodeid, outcome, reason, bundle, detail in db.execute(
            "SELECT setup, suite, nodeid, outcome, reason, bundle, detail FROM tests WHERE run=?",
            (run,)):
        rows.setdefault((setup, suite), []).append((nodeid, outcome, reason, bundle, detail))
    return {(s, u): cell_of(rows.get((s, u), [])) for s in setups for u in suites}


def skips(db, run: str) -> dict[str, list[SkipGroup]]:
    """setup -> its skip reasons in one run, each once, most tests first."""
    groups: dict[str, dict[str, SkipGroup]] = {}
    for setup, suite, reason in db.execute(
            "SELECT setup, suite, reason FROM tests WHERE run=? AND outcome='skipped' "
            "ORDER BY suite", (run,)):
        group = groups.setdefault(setup, {}).setdefault(reason or "(no reason given)",
                                                        SkipGroup(reason or "(no reason given)"))
        group.tests += 1
        if suite not in group.suites:
            group.suites.append(suite)
    return {setup: sorted(found.values(), key=lambda g: (-g.tests, g.reason))
            for setup, found in sorted(groups.items())}


def ordered_suites(suites: set[str]) -> list[str]:
    """The pytest suites by name, the upstream conformance column last."""
    return sorted(suites - {CONFORMANCE}) + ([CONFORMANCE] if CONFORMANCE in suites else [])
