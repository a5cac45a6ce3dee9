"""Faults a repro case injects into a running lab.

  {kind: stop-service, host: H, service: S}   stop a supervisor service
  {kind: command, host: H, command: C}        run C on the host (a daemon's own
                                              control: `birdc disable peer_worker1`)
  {kind: crash, host: H}                      kill every process of the host
  {kind: block, host: H}                      silently drop all its lab links
  {kind: netem, host: H, network: N, delay: 200ms, loss: 10%}
                                              tc netem on the host's link to N
                                              (a lab's links are named after their
                                              networks; on an existing cluster's
                                              host N is the link's name)
"""
from __future__ import annotations

import shlex

#: kind -> (required keys, optional keys)
KINDS = {
    "stop-service": ({"host", "service"}, set()),
    "command": ({"host", "command"}, set()),
    "crash": ({"host"}, set()),
    "block": ({"host"}, set()),
    "netem": ({"host", "network"}, {"delay", "loss"}),
}


def problems(fault, key: str, topology) -> str | None:
    """What is wrong with one fault description (None when nothing), naming the key."""
    if not isinstance(fault, dict) or fault.get("kind") not in KINDS:
        return f"{key}.kind: must be one of {', '.join(KINDS)}"
    required, optional = KINDS[fault["kind"]]
    for name in sorted(required - set(fault)):
        return f"{key}.{name}: required for a {fault['kind']} fault"
    for name in sorted(set(fault) - required - optional - {"kind"}):
        return f"{key}.{name}: unknown key for a {fault['kind']} fault"
    if topology is not None and fault["host"] not in topology.hosts:
        return f"{key}.host: no host {fault['host']!r} in topology {topology.name}"
    if fault["kind"] == "command" and not (isinstance(fault["command"], str) and fault["command"].strip()):
        return f"{key}.command: must be a command line"
    if fault["kind"] == "netem":
        if topology is not None and fault["network"] not in topology.hosts[fault["host"]].addresses:
            return f"{key}.network: host {fault['host']} is not on network {fault['network']!r}"
        if not (set(fault) & {"delay", "loss"}):
            return f"{key}: a netem fault needs delay or loss"
    return None


def inject(lab, fault: dict) -> str:
    """Apply one (validated) fault; return what was done, for the log."""
    host = lab.host(fault["host"])
    kind = fault["kind"]
    if kind == "stop-service":
        host.service(fault["service"]).stop()
    elif kind == "command":
        host.succeed(fault["command"])
    elif kind == "crash":
        host.crash()
    elif kind == "block":
        host.block()
    elif kind == "netem":
        args = []
        if "delay" in fault:
            args += ["delay", str(fault["delay"])]
        if "loss" in fault:
            args += ["loss", str(fault["loss"])]
        host.succeed(f"tc qdisc replace dev {shlex.quote(fault['network'])} root netem "
                     + " ".join(shlex.quote(a) for a in args))
    return describe(fault)


def undo(lab, fault: dict) -> str:
    """Undo an injected fault a host of an existing cluster can take (netem)."""
    if fault["kind"] != "netem":
        raise ValueError(f"a {fault['kind']} fault is not undone: it is injected in labs only")
    lab.host(fault["host"]).succeed(f"tc qdisc del dev {shlex.quote(fault['network'])} root")
    return describe(fault)


def describe(fault: dict) -> str:
    kind = fault["kind"]
    return f"{kind} on {fault['host']}" + (
        f" ({fault.get('service') or fault.get('network') or fault.get('command')})"
        if kind in ("stop-service", "netem", "command") else "")
