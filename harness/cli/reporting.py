"""`harness nightly`, `harness report`, `harness repro`: runs, the report, repro cases."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from harness import results
from harness.cli import repro
from harness.model import topology as topology_mod

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "fixtures" / "topologies"


def _pytest(args: list[str], env: dict | None = None, timeout: float | None = None) -> int:
    """One pytest run in its own process; a run over its time is stopped like Ctrl-C (its lab goes)."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                            env={**os.environ, **(env or {})})
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        return proc.wait()


def cmd_nightly(args) -> int:
    from harness.cli.output import CliError, out
    from harness.model.setups import SETUPS
    from reports import html
    paths = [Path(t) for t in args.topology] or [TOPOLOGIES / f"{s}.yaml" for s in SETUPS]
    try:
        topos = [topology_mod.load(p) for p in paths]
    except topology_mod.TopologyError as exc:
        raise CliError(str(exc)) from None
    run = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.results) / run
    suites = Path(args.suites)
    record = {"setups": [t.setup for t in topos], "topologies": [t.name for t in topos],
              "suites": sorted(p.stem for p in suites.glob("test_*.py")), "exit": {}}
    run_dir.mkdir(parents=True)
    # one topology after another: a 2-core machine runs one lab's suites at a time
    for topo, path in zip(topos, paths):
        out.print(f"nightly {run}: {topo.setup} ({topo.name})")
        setup_dir = run_dir / topo.setup
        code = _pytest([str(suites), "--topology", str(path), "--results-dir", str(setup_dir), "-q"],
                       timeout=args.timeout)
        record["exit"][topo.setup] = code
        (run_dir / "run.json").write_text(json.dumps(record, indent=2))
        found = results.read(setup_dir)
        if args.conformance_focus and found and found.components == "real":
            # the upstream tests on a lab of their own, results beside the suites'
            out.print(f"nightly {run}: {topo.setup}: upstream conformance ({args.conformance_focus})")
            record["exit"][f"{topo.setup} conformance"] = _conformance(topo, setup_dir, args)
            (run_dir / "run.json").write_text(json.dumps(record, indent=2))
    report = html.build(args.results)
    out.print(f"report: {report}")
    return 0


def _conformance(topo, setup_dir: Path, args) -> int:
    """e2e.test on a new lab of the topology: 0 when it ran (whatever the
    tests' outcomes), 1 when it could not run (said on stderr)."""
    import provisioners
    from harness import conformance
    from harness.cli import conformance as conformance_cli
    from harness.cli.output import CliError, err
    from harness.lab.progress import Steps, rich_reporter
    selection = conformance.Selection(focus=args.conformance_focus, timeout=args.conformance_timeout)
    try:
        lab = provisioners.get(provisioners.DEFAULT).create(topo, steps=Steps(rich_reporter(err)))
    except Exception as exc:  # noqa: BLE001 - the report shows the column as not run
        err.print(f"nightly: conformance on {topo.setup}: no lab ({exc})", style="red")
        return 1
    try:
        conformance_cli.run_on_lab(lab, selection, setup_dir)
        return 0
    except (CliError, LookupError) as exc:
        err.print(f"nightly: conformance on {topo.setup}: {exc}", style="red")
        return 1
    finally:
        lab.destroy()


def cmd_report(args) -> int:
    from harness.cli.output import out
    from reports import html
    out.print(f"report: {html.build(args.results, last=args.last)}")
    return 0


def cmd_repro(args) -> int:
    from harness.cli.output import CliError, out
    try:
        case = repro.load(args.case)
    except (repro.CaseError, topology_mod.TopologyError) as exc:
        raise CliError(str(exc)) from None
    if case.cluster and case.faults and not args.allow_destructive:
        raise CliError(f"{case.source}: injects {len(case.faults)} fault(s) into the existing cluster "
                       f"of {case.cluster['kubeconfig']}: refused without --allow-destructive "
                       "(pytest's flag for destructive suites)")
    out_dir = Path(args.results) / f"{case.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = {"case": case.name, "seed": case.seed, "source": case.source,
               "reporter_expected": case.reporter, "shows_as": case.shows_as, "symptom": case.symptom}
    if case.cluster:
        out_dir.mkdir(parents=True)
        return _reproduce(case, out_dir, summary, out, _cluster_args(case, args.allow_destructive))
    try:
        topo = case.topology()
    except topology_mod.TopologyError as exc:
        reproduced = case.shows_as == "topology-error" and case.message in str(exc)
        summary.update(reproduced=reproduced, shown=f"topology error: {exc}", lab=None)
        return _finish(out_dir, summary, out)
    if case.shows_as == "topology-error":
        summary.update(reproduced=False, shown="the topology is valid", lab=None)
        return _finish(out_dir, summary, out)
    out_dir.mkdir(parents=True)
    topo_file = out_dir / "topology.yaml"
    topo_file.write_text(json.dumps(topo.to_dict()))  # JSON is YAML
    code = _reproduce(case, out_dir, summary, out, ["--topology", str(topo_file), "--keep"])
    if summary["other_failures"] + summary["shown"] and summary["lab"]:  # --keep kept it
        first = next(iter(topo.hosts))
        out.print(f"lab {summary['lab']} kept: attach with `harness shell {summary['lab']} {first}`, "
                  f"remove with `harness down {summary['lab']}`")
    return code


def _cluster_args(case, allow_destructive: bool) -> list[str]:
    """pytest's options for the case's existing cluster."""
    inventory = case.cluster["inventory"]
    return ["--kubeconfig", case.cluster["kubeconfig"], *(["--inventory", inventory] if inventory else []),
            *(["--allow-destructive"] if allow_destructive else [])]


def _reproduce(case, out_dir: Path, summary: dict, out, where: list[str]) -> int:
    """Run the case's tests (on a lab or a cluster: `where`) with its faults; judge the failures."""
    pytest_args = [*case.select, *where, "--results-dir", str(out_dir),
                   "-p", "harness.pytest_plugin.repro_faults", "-q",
                   # a documented limitation is marked xfail in the suites;
                   # reproducing it must show it as the failure it is
                   "--runxfail"]
    if case.keyword:
        pytest_args += ["-k", case.keyword]
    _pytest(pytest_args, env={"HARNESS_REPRO_FAULTS": json.dumps(case.faults)})
    run = results.read(out_dir)
    wanted = {"failed": {"failed", "timeout"}, "timeout": {"timeout"}}[case.shows_as]
    # only a failure that shows the case's symptom is the problem reproduced
    texts = repro.failure_texts(out_dir / results.JUNIT_FILE)
    failing = [t for t in (run.tests if run else []) if t.outcome in wanted]
    shown = [t for t in failing if re.search(case.symptom, texts.get(t.nodeid, t.reason))]
    summary["other_failures"] = [f"{t.nodeid}: {t.outcome}: {t.reason}" for t in failing if t not in shown]
    summary.update(reproduced=bool(shown), lab=run.labs[0] if run and run.labs else None,
                   shown=[f"{t.nodeid}: {t.outcome}: {t.reason}" for t in shown],
                   bundles=[str(out_dir / t.bundle) for t in shown if t.bundle])
    return _finish(out_dir, summary, out)


def _finish(out_dir: Path, summary: dict, out) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "repro.json").write_text(json.dumps(summary, indent=2))
    verdict = "REPRODUCED" if summary["reproduced"] else "NOT reproduced"
    out.print(f"{verdict}: {summary['case']} (expected by the reporter: {summary['reporter_expected']})")
    out.print(f"shown: {summary['shown']}")
    if summary.get("other_failures"):
        out.print(f"failed without the symptom {summary.get('symptom')!r}: {summary['other_failures']}")
    out.print(f"details: {out_dir / 'repro.json'}")
    return 0 if summary["reproduced"] else 1


def add_parsers(sub) -> None:
    p = sub.add_parser("nightly", help="run every setup's topology with all suites, then the report",
                       description="Boot a lab for each topology in turn, run the suites on it, "
                                   "record the results under DIR/<date-time>/<setup> and rebuild the "
                                   "HTML report. Exit 0 once every setup ran, whatever the tests said.")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="the results directory: each run's results go into a new DIR/<date-time>, "
                        "the history (DIR/history.sqlite) and the report (DIR/index.html) beside "
                        "them (default: %(default)s)")
    p.add_argument("--suites", default=str(ROOT / "suites"), metavar="DIR",
                   help="the directory of suites run on every setup (default: the harness's suites/)")
    p.add_argument("--topology", action="append", default=[], metavar="FILE",
                   help="a topology file to run, instead of every setup's default topology under "
                        "fixtures/topologies; repeat it for several")
    p.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                   help="how long one setup's run may take; a run over it is stopped like Ctrl-C "
                        "(its lab removed) and the next setup runs (default: %(default)s)")
    p.add_argument("--conformance-focus", default=r"\[Conformance\]",
                   help="upstream conformance tests run on setups with real components "
                        "(regular expression; '' runs none)")
    p.add_argument("--conformance-timeout", type=float, default=4 * 3600,
                   metavar="SECONDS",
                   help="how long the upstream conformance tests may take per setup (default: %(default)s)")
    p.set_defaults(func=cmd_nightly)

    p = sub.add_parser("report", help="build the static HTML report of a results directory",
                       description="Read every run under the results directory into its history "
                                   "and write DIR/index.html: the setup by suite matrix of the "
                                   "latest run, failures with their reasons and bundles, flaky "
                                   "tests and the history. It opens from disk, no server needed.")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="the results directory `harness nightly` wrote "
                        "(default: %(default)s)")
    p.add_argument("--last", type=int, default=10, metavar="N",
                   help="how many of the latest runs are looked at for flaky tests: a test whose "
                        "outcome changed within them is listed as flaky (default: %(default)s)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("repro", help="reproduce a problem from a case file, on a lab it makes "
                                     "or on the existing cluster the case names")
    p.add_argument("case", help="the case file (fixtures/repro/ has examples; format in "
                                "harness/cli/repro.py)")
    p.add_argument("--results", default="results/repro",
                   help="where each attempt's directory goes: repro.json, JUnit, bundles")
    p.add_argument("--allow-destructive", action="store_true",
                   help="allow the case's faults on an existing cluster (as pytest's "
                        "--allow-destructive); a lab is always faulted")
    p.set_defaults(func=cmd_repro)
