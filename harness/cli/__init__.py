"""The `harness` command: bring labs up and down, look into them, clean up."""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from rich.table import Table
from rich.text import Text

import provisioners
from provisioners import lab_ssh
from provisioners.base import StuckLab, Unsupported
from harness.cli import artifacts, attached, doctor, image
from harness.cli.output import CliError, err, out
from harness.model import topology as topology_mod
from harness.lab import Terminated, sigterm_as_interrupt
from harness.lab.progress import Steps, rich_reporter



def find_lab(lab_id: str):
    """The Lab with that id, whichever provisioner made it."""
    for prov in provisioners.all_available():
        if any(r.id == lab_id for r in prov.list()):
            try:
                return prov.attach(lab_id)
            except LookupError as exc:
                raise CliError(str(exc)) from None
    raise CliError(f"no lab {lab_id!r} on this machine (`harness status` lists the labs)")


def cmd_up(args) -> int:
    if args.e2e_images and not args.apply:
        raise CliError("--e2e-images needs --apply (the images go into the nodes' containerd)")
    try:
        topo = topology_mod.load(topology_mod.resolve_path(args.topology))
        prov = provisioners.get(args.provisioner)
    except (topology_mod.TopologyError, provisioners.UnknownProvisioner) as exc:
        raise CliError(str(exc)) from None
    steps = Steps(rich_reporter(err))
    try:
        lab = prov.create(topo, ssh=args.ssh, steps=steps)
    except Unsupported as exc:
        raise CliError(str(exc)) from None
    try:
        if args.apply:
            from harness import setups
            target = setups.apply(lab, steps)
            err.print(f"setup {topo.setup} applied: {', '.join(sorted(target.capabilities))}")
            if args.e2e_images:
                from harness.setups.parts.kubernetes import kubelet
                with steps.step("the upstream e2e images into every node's containerd"):
                    kubelet.import_e2e_images(target)
        lab.detach()
    except BaseException:
        lab.destroy()
        raise
    out.print(Text.assemble("lab ", (lab.id, "bold"),
                            f" is up ({topo.name}, {prov.name}, {len(lab.hosts)} hosts)"))
    ssh_hosts = lab_ssh.wanted(topo, args.ssh)  # --ssh, or `ssh: true` in the topology
    reach = {host.name: [shlex.join(["harness", "shell", lab.id, host.name])]
             + ([shlex.join(host.ssh_argv())] if host.name in ssh_hosts else [])
             for host in lab.hosts.values()}
    table = Table("host", "roles")
    # addresses and commands to copy are folded, never cut short; commands get their width
    table.add_column("addresses", overflow="fold")
    table.add_column("reach it with", overflow="fold",
                     min_width=max(len(line) for lines in reach.values() for line in lines))
    for host in lab.hosts.values():
        addrs = " ".join(str(a) for fams in host.spec.addresses.values() for a in fams.values())
        table.add_row(host.name, ",".join(host.roles) or "-", addrs, "\n".join(reach[host.name]))
    out.print(table)
    out.print(f"remove it with: harness down {lab.id}")
    return 0


def cmd_status(args) -> int:
    if args.kubeconfig:
        if args.lab:
            raise CliError("status: a lab id or --kubeconfig, not both")
        return attached.status(args.kubeconfig, args.inventory)
    records = [(prov, r) for prov in provisioners.all_available() for r in prov.list()]
    if args.lab:
        records = [(p, r) for p, r in records if r.id == args.lab]
        if not records:
            raise CliError(f"no lab {args.lab!r} on this machine")
    if not records:
        out.print("no labs")
        return 0
    for prov, rec in records:
        owner = ("detached" if rec.owner_pid is None else
                 f"owned by pid {rec.owner_pid}" + ("" if rec.owner_alive else " (gone: gc removes it)"))
        out.print(Text.assemble((rec.id, "bold"), f"  {rec.provisioner}  topology {rec.topology}  {owner}",
                                ("" if rec.complete else (" incomplete", "red"))))
        if not rec.complete:
            continue
        lab = prov.attach(rec.id)
        table = Table("host", "roles", "addresses", "services")
        for host in lab.hosts.values():
            addrs = " ".join(f"{net}:{a}" for net, fams in host.spec.addresses.items()
                             for a in fams.values())
            try:
                services = ", ".join(f"{n}={s}" for n, s in sorted(host.services().items())) or "-"
            except Exception as exc:  # noqa: BLE001 - a crashed host still gets listed
                services = Text(f"supervisor unreachable ({type(exc).__name__})", style="red")
            table.add_row(host.name, ",".join(host.roles) or "-", addrs, services)
        out.print(table)
    return 0


def cmd_exec(args) -> int:
    host = find_lab(args.lab).host(args.host)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise CliError("exec needs a command after --")
    result = host.exec(command, input=piped_stdin(), timeout=None)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.rc


def piped_stdin():
    """What `harness exec` gives the command as stdin, as `docker exec -i`
    and `kubectl exec -i` do: what is piped or redirected into it, read as it
    comes. None (an empty stdin) for a terminal, whose typing is `harness
    shell`'s, and where there is no stdin at all: started with fd 0 closed,
    Python sets sys.stdin to None, and fd 0 may since be a file it opened."""
    if sys.stdin is None or os.isatty(0):
        return None
    return open(0, "rb", buffering=0, closefd=False)


def cmd_shell(args) -> int:
    argv = find_lab(args.lab).host(args.host).shell_argv()
    os.execvp(argv[0], argv)


def cmd_down(args) -> int:
    if args.all == bool(args.labs):
        raise CliError("down needs lab ids or --all (not both)")
    if args.all:
        return report_gc(everything=True, verb="down --all")
    labs = [find_lab(lab_id) for lab_id in args.labs]   # every id checked before any goes
    stuck = []
    for lab in labs:
        try:
            lab.destroy()
        except StuckLab as exc:
            stuck.append(exc)
            continue
        out.print(f"lab {lab.id} removed")
    return report_stuck(stuck)


def cmd_gc(args) -> int:
    if args.kubeconfig:
        if args.all:
            raise CliError("gc --kubeconfig removes only the namespaces of runs that are gone "
                           "(--all is for labs)")
        return attached.gc(args.kubeconfig)
    return report_gc(everything=args.all, verb="gc")


def report_gc(everything: bool, verb: str) -> int:
    removed, stuck = [], []
    for prov in provisioners.all_available():
        report = prov.gc(everything=everything)
        removed += [f"{i} ({prov.name})" for i in report.removed]
        stuck += report.stuck
    out.print(f"{verb}: removed {len(removed)} lab(s)" + (": " + ", ".join(removed) if removed else ""))
    return report_stuck(stuck)


def report_stuck(stuck: list[StuckLab]) -> int:
    """Each lab that could not be removed, once, with what holds it; exit 1."""
    for exc in stuck:
        err.print(f"harness: lab {exc.lab_id} could not be removed", style="red")
        for holder in exc.holders:
            err.print(f"  held by {holder}")
        err.print(f"  release it with: {exc.release}")
    return 1 if stuck else 0


def cmd_doctor(args) -> int:
    table = Table("prerequisite", "needed for", "state", "install with")
    missing = 0
    for prereq, present in doctor.check():
        missing += not present
        table.add_row(prereq.what, prereq.needed_for,
                      Text("present", style="green") if present else Text("missing", style="red"),
                      "" if present else prereq.install)
    out.print(table)
    k8s = doctor.kubernetes_artifacts()
    present = [f"{n} {v}" for n, v in k8s.items() if v]
    absent = [n for n, v in k8s.items() if not v]
    if present:
        out.print(f"Kubernetes artifacts present: {', '.join(present)}")
    if absent:
        out.print(f"Kubernetes artifacts absent: {', '.join(absent)}: `harness artifacts build` "
                  "makes them (or `harness artifacts import DIR`). Every setup needs them; the "
                  "stand-in recipes the benchmarks compare with need etcd only.")
    if os.geteuid() != 0:
        out.print("not root: netns labs need root", style="red")
        missing += 1
    out.print(f"{missing} prerequisite(s) missing" if missing else "all prerequisites present")
    return 1 if missing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="boot a lab from a topology and leave it running")
    p.add_argument("topology", help="a topology file or a name under fixtures/topologies")
    p.add_argument("--provisioner", default=provisioners.DEFAULT,
                   help="how the lab's hosts are made: netns, docker, podman or libvirt "
                        "(default: %(default)s)")
    p.add_argument("--ssh", action="store_true", help="run sshd on every host")
    p.add_argument("--apply", action="store_true", help="also apply the topology's setup")
    p.add_argument("--e2e-images", action="store_true",
                   help="with --apply: also give every node the upstream e2e images (agnhost among "
                        "them), as a cluster handed over for --kubeconfig runs pulls them")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("status", help="labs, hosts, addresses, services; or what the harness "
                                      "sees of an existing cluster (--kubeconfig)")
    p.add_argument("lab", nargs="?")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="summarise the cluster of this kubeconfig: nodes, versions, capabilities")
    p.add_argument("--inventory", metavar="FILE", help="with --kubeconfig: its hosts over ssh")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("exec", help="run a command on a lab host")
    p.add_argument("lab")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("shell", help="an interactive shell on a lab host")
    p.add_argument("lab")
    p.add_argument("host")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("down", help="remove labs")
    p.add_argument("labs", nargs="*", metavar="lab")
    p.add_argument("--all", action="store_true", help="remove every lab on this machine")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("gc", help="remove labs whose harness process is gone; or, with "
                                  "--kubeconfig, the run namespaces of runs that are gone")
    p.add_argument("--all", action="store_true", help="remove every lab, detached ones too")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="on this existing cluster, remove the namespaces of attached runs whose "
                        "process is gone (killed with kill -9); a run of another machine, or one "
                        "alive, is never touched")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("doctor", help="which prerequisites are present or missing")
    p.set_defaults(func=cmd_doctor)

    from harness.cli import conformance, reporting
    reporting.add_parsers(sub)
    conformance.add_parser(sub)
    image.add_parser(sub)
    artifacts.add_parser(sub)
    attached.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except (CliError, LookupError) as exc:
        err.print(f"harness: {exc}", style="red")
        return 2
    except (KeyboardInterrupt, Terminated):
        err.print("harness: interrupted; what was being made has been removed", style="yellow")
        return 130


if __name__ == "__main__":
    sys.exit(main())
