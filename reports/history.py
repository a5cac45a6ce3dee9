"""The nightly history: every run's results in one SQLite file.

results/<run>/<setup>/results.json files are ingested (again and again:
ingesting is idempotent), and the report reads per-test history, flaky tests
and trends from here.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from harness import results

DB_FILE = "history.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run TEXT, setup TEXT, topology TEXT, provisioner TEXT,
  labs TEXT, versions TEXT, started REAL, exit_status INTEGER, has_results INTEGER,
  components TEXT DEFAULT '', PRIMARY KEY (run, setup));
CREATE TABLE IF NOT EXISTS tests (run TEXT, setup TEXT, nodeid TEXT, suite TEXT, outcome TEXT,
  duration REAL, reason TEXT, properties TEXT, bundle TEXT, detail TEXT DEFAULT '',
  PRIMARY KEY (run, setup, nodeid));
"""
#: columns added since the first schema: a history file of an older harness gets them
ADDED_COLUMNS = {"runs": {"components": "TEXT DEFAULT ''"}, "tests": {"detail": "TEXT DEFAULT ''"}}


def connect(results_dir: Path | str) -> sqlite3.Connection:
    db = sqlite3.connect(Path(results_dir) / DB_FILE)
    db.executescript(SCHEMA)
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    return db


def ingest(db: sqlite3.Connection, run: str, setup: str, run_dir: Path) -> None:
    """Store one setup's results of one run; a run dir without results is stored as such."""
    found = results.read(run_dir)
    db.execute("DELETE FROM tests WHERE run=? AND setup=?", (run, setup))
    db.execute("INSERT OR REPLACE INTO runs (run, setup, topology, provisioner, labs, versions, "
               "started, exit_status, has_results, components) VALUES (?,?,?,?,?,?,?,?,?,?)", (
        run, setup, found.topology if found else None, found.provisioner if found else None,
        " ".join(found.labs) if found else "", json.dumps(found.versions if found else {}),
        found.started if found else 0, found.exit_status if found else None, found is not None,
        found.components if found else ""))
    for t in (found.tests if found else []):
        bundle = str(run_dir / t.bundle) if t.bundle else None
        db.execute("INSERT INTO tests (run, setup, nodeid, suite, outcome, duration, reason, "
                   "properties, bundle, detail) VALUES (?,?,?,?,?,?,?,?,?,?)", (
            run, setup, t.nodeid, t.suite, t.outcome, t.duration, t.reason,
            json.dumps(t.properties), bundle, t.detail))
    db.commit()


def ingest_tree(results_dir: Path | str) -> sqlite3.Connection:
    """Ingest every results/<run>/<setup>/ directory (a run is a directory with a run.json)."""
    root = Path(results_dir)
    db = connect(root)
    for run_file in sorted(root.glob("*/run.json")):
        run = run_file.parent.name
        for setup in json.loads(run_file.read_text())["setups"]:
            ingest(db, run, setup, run_file.parent / setup)
    return db


def runs(db: sqlite3.Connection, limit: int | None = None) -> list[str]:
    rows = db.execute("SELECT DISTINCT run FROM runs ORDER BY run DESC" +
                      (f" LIMIT {int(limit)}" if limit else "")).fetchall()
    return sorted(r[0] for r in rows)


def flaky(db: sqlite3.Connection, last: int = 10) -> list[tuple[str, str, list[str]]]:
    """(setup, nodeid, outcomes oldest first) of tests whose outcome changed within the last runs."""
    recent = runs(db, last)
    if not recent:
        return []
    marks = ",".join("?" * len(recent))
    found = {}
    for run, setup, nodeid, outcome in db.execute(
            f"SELECT run, setup, nodeid, outcome FROM tests WHERE run IN ({marks}) ORDER BY run",
            recent):
        found.setdefault((setup, nodeid), []).append(outcome)
    return [(s, n, o) for (s, n), o in sorted(found.items()) if len(set(o)) > 1]


def durations(db: sqlite3.Connection) -> dict[str, list[tuple[str, float]]]:
    """setup -> [(run, total test seconds)]"""
    series: dict[str, list[tuple[str, float]]] = {}
    for setup, run, total in db.execute(
            "SELECT setup, run, SUM(duration) FROM tests GROUP BY setup, run ORDER BY run"):
        series.setdefault(setup, []).append((run, total))
    return series


def convergence(db: sqlite3.Connection) -> dict[str, list[tuple[str, float]]]:
    """'setup: property' -> [(run, mean value)] for every numeric property named *_s (seconds)."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for run, setup, props in db.execute("SELECT run, setup, properties FROM tests ORDER BY run"):
        for name, value in json.loads(props).items():
            if name.endswith("_s") and isinstance(value, (int, float)):
                values.setdefault((setup, name, run), []).append(float(value))
    series: dict[str, list[tuple[str, float]]] = {}
    for (setup, name, run), vals in sorted(values.items(), key=lambda kv: kv[0][2]):
        series.setdefault(f"{setup}: {name}", []).append((run, sum(vals) / len(vals)))
    return series
