"""The setup x suite matrix of one run: one status per cell.

Zero results for a cell is "unknown", never "passed" (Sonobuoy's rule); a
timeout is a status of its own; skipped cells carry their reasons.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: the worst status of a cell's tests wins, in this order
PRECEDENCE = ("failed", "error", "timeout", "xpassed", "passed", "xfailed", "skipped", "unknown")


@dataclass
class Cell:
    status: str = "unknown"
    counts: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str | None]] = field(default_factory=list)  # nodeid, reason, bundle

    @property
    def summary(self) -> str:
        if not self.counts:
            return "no results"
        return ", ".join(f"{n} {o}" for o, n in sorted(self.counts.items()))


def cell_of(rows: list[tuple[str, str, str, str | None]]) -> Cell:
    """rows: (nodeid, outcome, reason, bundle) of one setup and suite in one run."""
    cell = Cell()
    for nodeid, outcome, reason, bundle in rows:
        cell.counts[outcome] = cell.counts.get(outcome, 0) + 1
        if outcome == "skipped" and reason and reason not in cell.reasons:
            cell.reasons.append(reason)
        if outcome in ("failed", "error", "timeout"):
            cell.failures.append((nodeid, reason, bundle))
    for status in PRECEDENCE:
        if cell.counts.get(status):
            cell.status = status
            break
    return cell


def build(db, run: str, setups: list[str], suites: list[str]) -> dict[tuple[str, str], Cell]:
    rows: dict[tuple[str, str], list] = {}
    for setup, suite, nodeid, outcome, reason, bundle in db.execute(
            "SELECT setup, suite, nodeid, outcome, reason, bundle FROM tests WHERE run=?", (run,)):
        rows.setdefault((setup, suite), []).append((nodeid, outcome, reason, bundle))
    return {(s, u): cell_of(rows.get((s, u), [])) for s in setups for u in suites}
