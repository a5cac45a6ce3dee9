"""Diagnostics bundles: what every host of a lab looked like at one moment.

`collect(lab, dest)` runs the collectors on all hosts in parallel; each host
has a time bound of its own, so a crashed, blocked or hanging host costs at
most that bound and never stops the others. A component collector runs only
where its daemon is there to answer (its binary and socket/process exist),
checked on the host itself first: every collector's condition in one command.

Everything written passes through `redact` first: private keys, tokens,
passwords and kubeconfig credentials never reach a bundle.
"""
from __future__ import annotations

import json
import re
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.setups import observers
from harness.lab import supervisor
from harness.lab.collectors import Collector

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.lab import Lab

REDACTED = "<redacted>"
#: how much of a host's console a bundle keeps (its end)
CONSOLE_LINES = 500

#: Shell functions every collector may use. Lab hosts may share the machine's
#: PID namespace (netns provisioner), so "a process of this host" is one in
#: this host's network namespace: host_pids lists them, runs NAME says
#: whether a process called NAME is one of them. Their names are read once
#: per shell, with one `cat`: on a VM under emulation every fork counts.
HOST_SHELL_FUNCTIONS = r"""
host_pids() { me=$(readlink /proc/self/ns/net); ls -l /proc/[0-9]*/ns/net 2>/dev/null |
  awk -v me="$me" '$NF == me { split($(NF - 2), path, "/"); print path[3] }'; }
host_comms() { for p in $(host_pids); do echo "/proc/$p/comm"; done | xargs cat 2>/dev/null; }
runs() { : "${HOST_COMMS:=$(host_comms)}"; printf '%s\n' "$HOST_COMMS" | grep -qxF -- "$1"; }
"""

#: (pattern, replacement) applied in order; each keeps the name of what it hid
_SECRET_PATTERNS = [
    # PEM private keys of any kind (RSA, EC, OPENSSH, ENCRYPTED ...)
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)",
                re.S), rf"-----BEGIN \1PRIVATE KEY-----{REDACTED}-----END \1PRIVATE KEY-----"),
    # kubeconfig credentials (client-key-data, token, password, ...), YAML or JSON
    (re.compile(r"""(?im)(["']?(?:client-key-data|client-certificate-data|token|id-token|"""
                r"""refresh-token|password|passwd|secret|access[-_]key|secret[-_]key|"""
                r"""bootstrap[-_]token|join[-_]token|certificate[-_]key)["']?\s*[:=]\s*)"""
                r"""["']?[^\s"',}]+["']?"""), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(--(?:token|password|certificate-key|discovery-token-ca-cert-hash)[= ])\S+"),
     rf"\1{REDACTED}"),
    # kubeadm-style bootstrap tokens seen anywhere: abcdef.0123456789abcdef
    (re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"), REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_LOGS = ("for f in $(ls /var/log/*.log /var/log/*/*.log 2>/dev/null); do "
         "echo \"==> $f <==\"; tail -n 200 \"$f\"; done")

HOST_COLLECTORS = [
    Collector("processes.txt", "ps -o pid,ppid,stat,etime,args --forest -p \"$(host_pids | paste -sd,)\""),
    Collector("services.txt", shlex.join(["supervisorctl", "-c", supervisor.CONFIG_PATH, "status"]),
              "command -v supervisorctl"),
    Collector("addresses.txt", "ip -d address show"),
    Collector("routes.txt", "ip -4 route show table all; echo; ip -6 route show table all"),
    Collector("neighbours.txt", "ip neigh show; ip -6 neigh show"),
    Collector("sockets.txt", "ss -tulpnH; echo; ss -tunaH"),
    Collector("logs.txt", _LOGS),
]

#: each component's own, reading the paths that component writes
COMPONENT_COLLECTORS = observers.COLLECTORS


def _applicable(host: Host, collectors: list[Collector], timeout: float) -> list[Collector]:
    """The collectors whose condition holds on the host, all checked in one
    command (a condition that fails to run counts as false)."""
    checks = "\n".join(f"if ({c.when}) >/dev/null 2>&1; then echo {i}; fi"
                       for i, c in enumerate(collectors))
    # each condition runs in a subshell: name the processes once, before them
    result = host.run(f"{HOST_SHELL_FUNCTIONS}\nHOST_COMMS=$(host_comms)\n{checks}", timeout=timeout)
    if not result.ok:
        raise RuntimeError(f"the collectors' conditions did not run on {host.name}: {result.summary()}")
    return [collectors[int(i)] for i in result.stdout.split()]


def _run_collector(host: Host, collector: Collector, timeout: float) -> str:
    result = host.run(f"{HOST_SHELL_FUNCTIONS}\n{collector.command}", timeout=timeout)
    text = result.stdout
    if result.stderr.strip():
        text += f"\n--- stderr ---\n{result.stderr}"
    if not result.ok:
        text += f"\n--- exit code {result.rc} ---\n"
    return text


def collect_host(host: Host, dest: Path, command_timeout: float = 10,
                 stop: threading.Event | None = None,
                 console: Callable[[Host], bytes | None] | None = None) -> list[str]:
    """Write every applicable collector's output into dest, and the end of
    the host's console where its provisioner has one; return the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    if console is not None:
        try:
            text = console(host)
        except Exception as exc:  # noqa: BLE001 - a console out of reach is reported, not raised
            text = f"console not read: {type(exc).__name__}: {exc}\n".encode()
        if text is not None and not (stop is not None and stop.is_set()):
            tail = text.decode(errors="replace").splitlines()[-CONSOLE_LINES:]
            (dest / "console.log").write_text(redact("\n".join(tail) + "\n"))
            written.append("console.log")
    for collector in _applicable(host, HOST_COLLECTORS + COMPONENT_COLLECTORS, command_timeout):
        if stop is not None and stop.is_set():
            break
        try:
            text = _run_collector(host, collector, command_timeout)
        except Exception as exc:  # noqa: BLE001 - one broken collector never stops the rest
            text = f"collector failed: {type(exc).__name__}: {exc}\n"
        if stop is not None and stop.is_set():
            break  # past the host's time bound: the bundle is already written
        (dest / collector.file).write_text(redact(text))
        written.append(collector.file)
    return written


def collect(lab: Lab, dest: Path | str, host_timeout: float = 30, command_timeout: float = 10,
            context: dict | None = None) -> dict:
    """A bundle of every host of the lab under dest/<host>/, collected in parallel.

    Returns (and writes as dest/bundle.json) what was collected per host and
    which hosts ran out of their time bound.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, len(lab.hosts)), thread_name_prefix="diag")
    futures = {pool.submit(collect_host, host, dest / name, command_timeout, stop,
                           lab.provisioner.console): name
               for name, host in lab.hosts.items()}
    done, pending = wait(futures, timeout=host_timeout)
    stop.set()  # a host still running writes no more (its current command may go on)
    pool.shutdown(wait=False, cancel_futures=True)
    hosts = {}
    for future, name in futures.items():
        if future in pending:
            hosts[name] = {"status": "timeout",
                           "note": f"collection did not finish within {host_timeout:g}s"}
        elif future.exception() is not None:
            hosts[name] = {"status": "error", "note": redact(repr(future.exception()))}
        else:
            hosts[name] = {"status": "ok", "files": future.result()}
    summary = {"lab": lab.id, "topology": lab.topology.name, "setup": lab.topology.setup,
               "seconds": round(time.monotonic() - started, 2), "hosts": hosts,
               "context": json.loads(redact(json.dumps(context or {})))}
    (dest / "bundle.json").write_text(json.dumps(summary, indent=2))
    return summary
