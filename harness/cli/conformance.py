"""`harness conformance LAB | --kubeconfig FILE`: the upstream conformance
tests (e2e.test) against a cluster, results beside the suites'."""
from __future__ import annotations

import json
import time
from pathlib import Path

from harness import artifacts, conformance
from harness.cli.output import CliError, err, out
from harness.lab.progress import Steps, rich_reporter

#: outcomes that make `harness conformance` exit 1
FAILING = ("failed", "error", "timeout")


def selection_of(args) -> conformance.Selection:
    if args.parallel < 1:
        raise CliError(f"--parallel must be 1 or more, not {args.parallel}")
    if args.timeout <= 0:
        raise CliError(f"--timeout must be positive, not {args.timeout}")
    return conformance.Selection(focus=args.focus, skip=args.skip, parallel=args.parallel,
                                 timeout=args.timeout)


def run_on_lab(lab, selection: conformance.Selection, results_dir: Path) -> tuple:
    """Apply (or find) the lab's setup, give its nodes the e2e images, and run
    the selection against its cluster through this process's tunnel;
    (results, hung)."""
    from harness import results, setups
    from harness.conformance import cluster
    from harness.setups.parts.kubernetes import kubelet
    steps = Steps(rich_reporter(err))
    target = setups.apply(lab, steps)
    with steps.step("the upstream e2e images into every node's containerd"):
        kubelet.import_e2e_images(target)
    path, fd = cluster.lab_kubeconfig(lab, target)
    selection.dns_domain = lab.topology.domain
    meta = {"setup": lab.topology.setup, "topology": lab.topology.name,
            "provisioner": lab.provisioner.name, "labs": [lab.id],
            "versions": results.component_versions(lab), "components": results.components_of(target)}
    return _run(path, results_dir, selection, meta, (fd,))


def _run(kubeconfig: str, results_dir: Path, selection: conformance.Selection, meta: dict,
         pass_fds: tuple[int, ...] = ()) -> tuple:
    ginkgo = artifacts.binary("ginkgo") if selection.parallel > 1 else None
    err.print(f"conformance: e2e.test {artifacts.binary('e2e.test')}, focus {selection.focus!r}, "
              f"skip {selection.skip!r} and {len(conformance.SKIPPED)} listed test(s), "
              f"timeout {selection.timeout:.0f}s; log: {results_dir / conformance.LOG_FILE}")
    try:
        return conformance.run(artifacts.binary("e2e.test"), kubeconfig, results_dir,
                               artifacts.binary("kubectl"), selection, meta,
                               report=lambda message: err.print(message, highlight=False),
                               ginkgo=ginkgo, pass_fds=pass_fds)
    except conformance.ConformanceError as exc:
        raise CliError(str(exc)) from None


def cmd_conformance(args) -> int:
    from reports import html
    if bool(args.lab) == bool(args.kubeconfig):
        raise CliError("conformance needs a LAB or --kubeconfig FILE (one of them)")
    selection = selection_of(args)
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        raise CliError(f"--kubeconfig {args.kubeconfig}: no such file")
    for name in ("e2e.test", "kubectl"):
        artifacts.binary(name)  # LookupError: says which command makes it
    run_id = time.strftime("%Y%m%d-%H%M%S")
    if args.lab:
        from harness.cli import find_lab
        lab = find_lab(args.lab)
        setup = lab.topology.setup
        results_dir = Path(args.results) / run_id / setup
        try:
            run, hung = run_on_lab(lab, selection, results_dir)
        finally:
            lab.close()  # the tunnel and credentials go; the lab stays up
    else:
        kubeconfig = Path(args.kubeconfig)
        setup = args.setup
        results_dir = Path(args.results) / run_id / setup
        selection.dns_domain = args.dns_domain
        run, hung = _run(str(kubeconfig.resolve()), results_dir, selection,
                         {"setup": setup, "components": "real"})
    record = {"setups": [setup], "suites": [conformance.SUITE], "exit": {setup: run.exit_status}}
    (results_dir.parent / "run.json").write_text(json.dumps(record, indent=2))
    counts: dict[str, int] = {}
    for test in run.tests:
        if test.suite == conformance.SUITE:
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
    out.print("conformance: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())))
    for test in run.tests:
        if test.suite == conformance.SUITE and test.outcome in FAILING:
            out.print(f"  {test.outcome}: {test.nodeid}: {test.reason}", highlight=False)
    if hung:
        out.print(f"conformance: {hung}", style="red")
    out.print(f"results: {results_dir} ({conformance.LOG_FILE}, {conformance.JUNIT_FILE}, results.json)")
    out.print(f"report: {html.build(args.results)}")
    return 1 if any(counts.get(o) for o in FAILING) or not counts.get("passed") else 0


def add_parser(sub) -> None:
    p = sub.add_parser("conformance", help="run the upstream Kubernetes conformance tests (e2e.test)")
    p.add_argument("lab", nargs="?", help="a lab that is up (`harness up TOPOLOGY --apply`)")
    p.add_argument("--kubeconfig", help="a cluster of your own, reachable from this machine")
    p.add_argument("--setup", default="cluster", help="its name in the results (with --kubeconfig)")
    p.add_argument("--dns-domain", default="cluster.local", help="its cluster domain (with --kubeconfig)")
    p.add_argument("--focus", default=conformance.DEFAULT_FOCUS,
                   help="regular expression of the tests to run (default: every [Conformance] test)")
    p.add_argument("--skip", default=conformance.DEFAULT_SKIP,
                   help="regular expression of tests not to run (default: [Serial] and [Disruptive]); "
                        "the tests listed in harness/conformance/skips.py are always skipped")
    p.add_argument("--parallel", type=int, default=1, help="tests at a time (ginkgo processes)")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds for the whole run")
    p.add_argument("--results", default="results",
                   help="results root: RESULTS/<run>/<setup>/ gets e2e.log, junit_01.xml, results.json")
    p.set_defaults(func=cmd_conformance)
