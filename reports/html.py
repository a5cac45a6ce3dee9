"""Build results/index.html from the history: opens from disk, no server, no internet.

Everything the page needs is in the results directory: the plots are SVG
files next to it, the bundle links are relative paths, there is no script
and no remote resource.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jinja2

from reports import history
from harness.results.diagnostics import redact
from harness.model.setups import SETUPS
from reports import matrix, plots

REPORT_FILE = "index.html"
ASSETS = "report-assets"

def _redacted(value):
    """Every value the page shows, redacted as text before it is escaped (a
    pass over the finished page would take markup for a secret's value)."""
    return redact(value) if isinstance(value, str) else value


TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                              finalize=_redacted).from_string("""\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conformance report {{ run }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #999; padding: 4px 6px; font-size: 13px; vertical-align: top;
         overflow-wrap: anywhere; text-align: left; }
#matrix { table-layout: fixed; width: 100%; }
#matrix th.setup { width: 13em; }
#history, #skips, #flaky, #versions { max-width: 100%; }
.passed { background: #c8f0c8; } .failed, .error, .xpassed { background: #f4b6b6; }
.timeout { background: #f7d08a; } .skipped { background: #e0e0f8; } .unknown { background: #ddd; }
.xfailed { background: #f0e6b0; }
.counts { font-size: 12px; }
.reason { font-size: 11px; color: #333; margin-top: 3px; overflow: hidden; display: -webkit-box;
          -webkit-box-orient: vertical; -webkit-line-clamp: 3; }
.failure .name { font-size: 11px; font-weight: bold; margin-top: 4px; white-space: nowrap; overflow: hidden;
                 text-overflow: ellipsis; }
#matrix th.conformance { width: 15%; }
.badge { display: inline-block; font-size: 11px; padding: 1px 5px; border-radius: 3px; margin: 2px 0; }
.badge.real { background: #2d7d2d; color: white; } .badge.stand-ins { background: #8a6d1f; color: white; }
.badge.not-run, .badge.unknown { background: #777; color: white; }
.versions { font-size: 11px; font-weight: normal; color: #333; }
details pre { white-space: pre-wrap; font-size: 11px; background: #f6f6f6; padding: 6px; }
</style></head><body>
<h1>Conformance report</h1>
<p>Latest run <b>{{ run }}</b>; {{ runs|length }} run(s) in the history; flaky = outcome changed within the last {{ last }} runs.
The <b>{{ conformance }}</b> column holds the upstream Kubernetes [Conformance] tests (e2e.test); the others are the harness's suites.</p>
<h2>Setup &times; suite (latest run)</h2>
<table id="matrix"><tr><th class="setup">setup</th>{% for suite in suites %}<th class="{{ suite }}">{{ suite|replace("_", "_\u200b") }}</th>{% endfor %}</tr>
{% for setup in setups %}{% set info = setup_info[setup] %}<tr><th class="setup" data-setup="{{ setup }}" data-components="{{ info.components }}">{{ setup }}<br>
<span class="badge {{ info.components }}">{{ info.label }}</span>
<div class="versions">{% for c, v in info.versions.items() %}{{ c }} {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</div></th>
{% for suite in suites %}{% set cell = cells[(setup, suite)] %}
<td class="cell {{ cell.status }}" data-setup="{{ setup }}" data-suite="{{ suite }}" data-status="{{ cell.status }}">
<b>{{ cell.status }}</b><div class="counts">{{ cell.summary if cell.counts or suite != conformance or info.components != "stand-ins" else "not run: no Kubernetes API" }}</div>
{% for f in cell.failures[:shown] %}<div class="failure"><div class="name" title="{{ f.name }}">{{ f.outcome }}: {{ f.name }}</div>
<div class="reason" title="{{ f.reason }}">{{ f.reason }}</div>
<div class="reason"><a href="#{{ f.anchor }}">detail</a>{% if f.bundle %} · <a class="bundle" href="{{ f.bundle }}">diagnostics bundle</a>{% endif %}</div></div>{% endfor %}
{% if cell.failures|length > shown %}<div class="reason"><a href="#{{ cell.failures[shown].anchor }}">{{ cell.failures|length - shown }} more</a></div>{% endif %}
</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Skipped (latest run), once per setup</h2>
<table id="skips"><tr><th>setup</th><th>reason</th><th>tests</th><th>suites</th></tr>
{% for setup, groups in skips.items() %}{% for g in groups %}<tr>{% if loop.first %}<td rowspan="{{ groups|length }}">{{ setup }}</td>{% endif %}
<td>{{ g.reason }}</td><td>{{ g.tests }}</td><td>{{ g.suites|join(', ') }}</td></tr>{% endfor %}
{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}
</table>
<h2>Failures and expected failures (latest run)</h2>
<div id="failures">{% for setup, suite, f in failures %}
<details id="{{ f.anchor }}" class="{{ f.outcome }}"><summary>{{ setup }} · {{ suite }} · {{ f.outcome }} <b>{{ f.nodeid }}</b>: {{ f.reason }}</summary>
<pre>{{ f.detail or "no detail recorded" }}</pre></details>{% else %}<p>none</p>{% endfor %}
</div>
<h2>Components running (latest run)</h2>
<table id="versions"><tr><th>setup</th><th>components</th><th>topology</th><th>labs</th><th>versions</th></tr>
{% for row in run_rows %}<tr><td>{{ row.setup }}</td><td>{{ setup_info[row.setup].label }}</td><td>{{ row.topology or "no results" }}</td><td>{{ row.labs }}</td>
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

#: failures a matrix cell lists; the rest are a link to the failures section
SHOWN_PER_CELL = 3
#: version lines shown under a setup's name (the components table has them all)
VERSIONS_PER_SETUP = 4
FIRST_SHOWN = ("kube-apiserver", "kubelet", "etcd", "containerd", "coredns", "flanneld")
COMPONENT_LABELS = {"real": "real components", "stand-ins": "stand-ins",
                    "unknown": "components not recorded"}


def build(results_dir: Path | str, last: int = 10) -> Path:
    root = Path(results_dir).resolve()
    db = history.ingest_tree(root)
    runs = history.runs(db)
    latest = runs[-1] if runs else "none"
    setups = list(dict.fromkeys([*SETUPS, *(r[0] for r in db.execute("SELECT DISTINCT setup FROM runs"))]))
    suites = matrix.ordered_suites({r[0] for r in db.execute("SELECT DISTINCT suite FROM tests")} |
                                   set(_expected_suites(root, latest)) | {matrix.CONFORMANCE})
    cells = matrix.build(db, latest, setups, suites)
    failures = []
    for (setup, suite), cell in cells.items():
        for f in cell.failures:
            f.bundle = os.path.relpath(f.bundle, root) if f.bundle else None
            f.anchor = f"failure-{len(failures) + 1}"
            failures.append((setup, suite, f))
    run_rows = [{"setup": s, "topology": t, "labs": labs, "versions": json.loads(v),
                 "components": c or ""}
                for s, t, labs, v, c in db.execute(
                    "SELECT setup, topology, labs, versions, components FROM runs WHERE run=? "
                    "ORDER BY setup", (latest,))]
    setup_info = {s: _setup_info(next((r for r in run_rows if r["setup"] == s), None)) for s in setups}
    skips = matrix.skips(db, latest)
    test_rows: dict[tuple[str, str], dict[str, str]] = {}
    for run, setup, nodeid, outcome in db.execute("SELECT run, setup, nodeid, outcome FROM tests"):
        test_rows.setdefault((setup, nodeid), {})[run] = outcome
    plots.trend(history.durations(db), "Test duration per run", "seconds", root / ASSETS / "durations.svg")
    plots.trend(history.convergence(db), "Convergence times per run", "seconds",
                root / ASSETS / "convergence.svg")
    html = TEMPLATE.render(run=latest, runs=runs, last=last, setups=setups, suites=suites,
                           cells=cells, run_rows=run_rows, flaky=history.flaky(db, last),
                           test_rows=sorted(test_rows.items()), assets=ASSETS, skips=skips,
                           failures=failures, setup_info=setup_info, shown=SHOWN_PER_CELL,
                           conformance=matrix.CONFORMANCE)
    path = root / REPORT_FILE
    path.write_text(html)
    db.close()
    return path


def _setup_info(row: dict | None) -> dict:
    """What the matrix shows under a setup's name: real components or
    stand-ins, and the first versions of what ran."""
    if row is None or row["topology"] is None:  # no results.json: the setup did not run
        return {"components": "not-run", "label": "not run", "versions": {}}
    components, _, stand_ins = (row["components"] or "unknown").partition("; ")
    # what tells real from stand-in at a glance first
    names = sorted(row["versions"], key=lambda c: (FIRST_SHOWN.index(c) if c in FIRST_SHOWN
                                                   else len(FIRST_SHOWN), c))
    label = COMPONENT_LABELS.get(components, components) + (f" ({stand_ins})" if stand_ins else "")
    return {"components": components, "label": label,
            "versions": {c: _version_number(row["versions"][c]) for c in names[:VERSIONS_PER_SETUP]}}


def _version_number(line: str) -> str:
    """The version in a component's version line ("etcd Version: 3.6.4" -> "3.6.4")."""
    found = re.search(r"\bv?\d+\.\d+[\w.~+-]*", line)
    return found.group(0) if found else line


def _expected_suites(root: Path, run: str) -> list[str]:
    run_file = root / run / "run.json"
    return json.loads(run_file.read_text()).get("suites", []) if run_file.exists() else []
