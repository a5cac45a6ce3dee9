"""`harness status --kubeconfig FILE` (what the harness sees of a cluster it
did not make) and `harness export LAB --kubeconfig FILE` (a lab's cluster as
a customer would hand it over: a cluster-admin kubeconfig)."""
from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client
from rich.table import Table
from rich.text import Text

from harness.cli.output import CliError, out
from harness.model.setups import CONTROL_PLANE_ROLES
from harness.setups import attached
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.make_kubeconfig import COMMAND as MAKE_KUBECONFIG


def status(kubeconfig: str) -> int:
    """Nodes, versions and capabilities of the kubeconfig's cluster."""
    try:
        lab = attached.connect(kubeconfig)
    except attached.AttachError as exc:
        raise CliError(str(exc)) from None
    try:
        out.print(Text.assemble(("attached", "bold"), f"  {lab.server}  context {lab.context}  "
                                f"Kubernetes {lab.versions['kubernetes']}"))
        nodes = {n.metadata.name: n for n in client.CoreV1Api(lab.api).list_node().items}
        table = Table("node", "roles", "ready", "kubelet", "addresses")
        for host in lab.hosts.values():
            node = nodes.get(host.name)
            ready = bool(node) and k8s_api.ready(node.status.conditions)
            table.add_row(host.name, ",".join(host.roles),
                          Text("Ready", style="green") if ready else Text("NotReady", style="red"),
                          node.status.node_info.kubelet_version if node else "?",
                          " ".join(str(a) for fams in host.spec.addresses.values()
                                   for a in fams.values()))
        out.print(table)
        cidrs = ", ".join(map(str, lab.topology.service_cidrs)) or "unknown"
        out.print(f"service CIDR {cidrs}; control planes: {', '.join(lab.control_planes) or 'none found'}")
        out.print(f"capabilities: {', '.join(sorted(lab.capabilities))}")
        out.print(f"lacks: hosts ({lab.origin})")
    finally:
        lab.close()
    return 0


def cmd_export(args) -> int:
    """The lab's cluster-admin kubeconfig (`kubernetes-make-kubeconfig` on a
    control plane), written mode 0600 where the user says."""
    from harness.cli import find_lab
    lab = find_lab(args.lab)
    try:
        planes = [h for h in lab.hosts.values() if set(h.roles) & CONTROL_PLANE_ROLES]
        maker = next((h for h in planes if h.run(f"command -v {MAKE_KUBECONFIG}").ok), None)
        if maker is None:
            raise CliError(f"lab {lab.id}: no control plane has {MAKE_KUBECONFIG} "
                           f"(setup {lab.topology.setup}; `harness up --apply` of fcio-k8s makes it)")
        config = maker.succeed(MAKE_KUBECONFIG)
    finally:
        lab.close()
    path = Path(args.kubeconfig)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as file:
        os.fchmod(fd, 0o600)
        file.write(config)
    out.print(f"{path}: cluster-admin kubeconfig of lab {lab.id} (from {maker.name}); its server "
              f"is reached from inside the lab: `harness exec {lab.id} HOST -- ... --kubeconfig {path}`")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a lab's cluster-admin kubeconfig, to use the lab "
                                      "as an existing cluster (pytest --kubeconfig)")
    p.add_argument("lab")
    p.add_argument("--kubeconfig", required=True, metavar="FILE", help="where to write it (mode 0600)")
    p.set_defaults(func=cmd_export)
