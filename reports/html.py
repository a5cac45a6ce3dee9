"""Build results/index.html from the history: opens from disk, no server, no internet.

Everything the page needs is in the results directory: the plots are SVG
files next to it, the bundle links are relative paths, there is no script
and no remote resource.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2

from reports import history
from harness.results.diagnostics import redact
from harness.model.setups import SETUPS
from reports import matrix, plots

REPORT_FILE = "index.html"
ASSETS = "report-assets"

TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conformance report {{ run }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #999; padding: 4px 8px; font-size: 13px; vertical-align: top; }
.passed { background: #c8f0c8; } .failed, .error { background: #f4b6b6; }
.timeout { background: #f7d08a; } .skipped { background: #e0e0f8; } .unknown { background: #ddd; }
.reason { font-size: 11px; color: #333; }
</style></head><body>
<h1>Conformance report</h1>
<p>Latest run <b>{{ run }}</b>; {{ runs|length }} run(s) in the history; flaky = outcome changed within the last {{ last }} runs.</p>
<h2>Setup &times; suite (latest run)</h2>
<table id="matrix"><tr><th>setup</th>{% for suite in suites %}<th>{{ suite }}</th>{% endfor %}</tr>
{% for setup in setups %}<tr><th>{{ setup }}</th>
{% for suite in suites %}{% set cell = cells[(setup, suite)] %}
<td class="cell {{ cell.status }}" data-setup="{{ setup }}" data-suite="{{ suite }}" data-status="{{ cell.status }}">
<b>{{ cell.status }}</b><div class="reason">{{ cell.summary }}</div>
{% for reason in cell.reasons %}<div class="reason">skipped: {{ reason }}</div>{% endfor %}
{% for nodeid, reason, bundle in cell.failures %}<div class="reason">{{ nodeid.split('::')[-1] }}: {{ reason }}
{% if bundle %}<a class="bundle" href="{{ bundle }}">diagnostics bundle</a>{% endif %}</div>{% endfor %}
</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Components running (latest run)</h2>
<table id="versions"><tr><th>setup</th><th>topology</th><th>labs</th><th>versions</th></tr>
{% for row in run_rows %}<tr><td>{{ row.setup }}</td><td>{{ row.topology or "no results" }}</td><td>{{ row.labs }}</td>
<td>{% for c, v in row.versions.items() %}{{ c }}: {{ v }}<br>{% endfor %}</td></tr>{% endfor %}
</table>
<h2>Flaky tests</h2>
<table id="flaky"><tr><th>setup</th><th>test</th><th>outcomes (oldest first)</th></tr>
{% for setup, nodeid, outcomes in flaky %}<tr><td>{{ setup }}</td><td>{{ nodeid }}</td><td>{{ outcomes|join(' → ') }}</td></tr>
{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<h2>Trends</h2>
<img class="plot" alt="test duration per run" src="{{ assets }}/durations.svg">
<img class="plot" alt="convergence times per run" src="{{ assets }}/convergence.svg">
<h2>Per-test history</h2>
<table id="history"><tr><th>setup</th><th>test</th>{% for r in runs %}<th>{{ r }}</th>{% endfor %}</tr>
{% for (setup, nodeid), outcomes in test_rows %}<tr><td>{{ setup }}</td><td>{{ nodeid }}</td>
{% for r in runs %}{% set o = outcomes.get(r, 'unknown') %}<td class="{{ o }}">{{ o }}</td>{% endfor %}</tr>{% endfor %}
</table>
</body></html>
""")


def build(results_dir: Path | str, last: int = 10) -> Path:
    root = Path(results_dir).resolve()
    db = history.ingest_tree(root)
    runs = history.runs(db)
    latest = runs[-1] if runs else "none"
    setups = list(dict.fromkeys([*SETUPS, *(r[0] for r in db.execute("SELECT DISTINCT setup FROM runs"))]))
    suites = sorted({r[0] for r in db.execute("SELECT DISTINCT suite FROM tests")} |
                    set(_expected_suites(root, latest)))
    cells = matrix.build(db, latest, setups, suites)
    for cell in cells.values():
        cell.failures = [(n, redact(reason), os.path.relpath(b, root) if b else None)
                         for n, reason, b in cell.failures]
        cell.reasons = [redact(r) for r in cell.reasons]
    run_rows = [{"setup": s, "topology": t, "labs": labs, "versions": json.loads(v)}
                for s, t, labs, v in db.execute(
                    "SELECT setup, topology, labs, versions FROM runs WHERE run=? ORDER BY setup", (latest,))]
    test_rows: dict[tuple[str, str], dict[str, str]] = {}
    for run, setup, nodeid, outcome in db.execute("SELECT run, setup, nodeid, outcome FROM tests"):
        test_rows.setdefault((setup, nodeid), {})[run] = outcome
    plots.trend(history.durations(db), "Test duration per run", "seconds", root / ASSETS / "durations.svg")
    plots.trend(history.convergence(db), "Convergence times per run", "seconds",
                root / ASSETS / "convergence.svg")
    html = TEMPLATE.render(run=latest, runs=runs, last=last, setups=setups, suites=suites,
                           cells=cells, run_rows=run_rows, flaky=history.flaky(db, last),
                           test_rows=sorted(test_rows.items()), assets=ASSETS)
    path = root / REPORT_FILE
    path.write_text(redact(html))
    db.close()
    return path


def _expected_suites(root: Path, run: str) -> list[str]:
    run_file = root / run / "run.json"
    return json.loads(run_file.read_text()).get("suites", []) if run_file.exists() else []
