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
from harness.setups import attached, inventory
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.make_kubeconfig import COMMAND as MAKE_KUBECONFIG


def status(kubeconfig: str, inventory: str | None = None) -> int:
    """Nodes, versions and capabilities of the kubeconfig's cluster (and its inventory's hosts)."""
    try:
        lab = attached.connect(kubeconfig, inventory)
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
        if lab.inventory is None:
            out.print(f"lacks: hosts ({lab.origin})")
        else:
            out.print(f"hosts over ssh: {', '.join(lab.inventory.roles)}; lacks: crash, block, "
                      f"supervisor ({lab.origin})")
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
    private_file(path, config)
    out.print(f"{path}: cluster-admin kubeconfig of lab {lab.id} (from {maker.name}); its server "
              f"is reached from inside the lab: `harness exec {lab.id} HOST -- ... --kubeconfig {path}`")
    if args.inventory:
        write_inventory(lab, Path(args.inventory))
    return 0


def write_inventory(lab, path: Path) -> None:
    """The lab's hosts as a customer's inventory: each host's first address,
    root with a copy of the lab's key (the lab's ssh directory is in /run,
    which the lab's hosts do not see), no host key checks (the lab is new)."""
    hosts = {h.name: h for h in lab.hosts.values()}
    try:
        configs = {h.name: h.ssh_config() for h in hosts.values()}
    except (LookupError, AttributeError) as exc:
        raise CliError(f"lab {lab.id}: {exc}") from None
    key = path.with_name(f"{path.stem}.key")
    private_file(key, (next(iter(configs.values())).parent / "id_ed25519").read_text())
    ssh_config = path.with_name(f"{path.stem}.ssh_config")
    ssh_config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                          "  LogLevel ERROR\n")
    inventory.write(path, {name: (h.roles, h.address()) for name, h in hosts.items()},
                    str(key), str(ssh_config), lab.topology.setup)
    out.print(f"{path}: ssh inventory of lab {lab.id} ({', '.join(hosts)}), key {key}")


def private_file(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as file:
        os.fchmod(fd, 0o600)
        file.write(text)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a lab's cluster-admin kubeconfig, to use the lab "
                                      "as an existing cluster (pytest --kubeconfig)")
    p.add_argument("lab")
    p.add_argument("--kubeconfig", required=True, metavar="FILE", help="where to write it (mode 0600)")
    p.add_argument("--inventory", metavar="FILE",
                   help="also an ssh inventory of the lab's hosts (needs sshd: `harness up --ssh`), "
                        "with a copy of the lab's key beside it")
    p.set_defaults(func=cmd_export)
