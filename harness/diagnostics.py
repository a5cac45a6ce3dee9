"""Diagnostics bundles: what every host of a lab looked like at one moment.

`collect(lab, dest)` runs the collectors on all hosts in parallel; each host
has a time bound of its own, so a crashed, blocked or hanging host costs at
most that bound and never stops the others. A component collector runs only
where its daemon is there to answer (its binary and socket/process exist),
checked on the host itself in the same shell command.

Everything written passes through `redact` first: private keys, tokens,
passwords and kubeconfig credentials never reach a bundle.
"""
from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.etcd_cluster import PKI_DIR as ETCD_PKI_DIR

if TYPE_CHECKING:
    from harness.host import Host
    from harness.lab import Lab

REDACTED = "<redacted>"

#: Shell functions every collector may use. Lab hosts may share the machine's
#: PID namespace (netns provisioner), so "a process of this host" is one in
#: this host's network namespace: host_pids lists them, runs NAME says
#: whether a process called NAME is one of them.
HOST_SHELL_FUNCTIONS = r"""
host_pids() { me=$(readlink /proc/self/ns/net); ls -l /proc/[0-9]*/ns/net 2>/dev/null |
  awk -v me="$me" '$NF == me { split($(NF - 2), path, "/"); print path[3] }'; }
runs() { for p in $(host_pids); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && return 0; done
  return 1; }
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


@dataclass(frozen=True)
class Collector:
    """One file of a host's bundle: the output of a shell command run there.

    `when` is a shell condition checked on the host first (the daemon is
    there to ask); when it is false the collector is skipped silently.
    """
    file: str
    command: str
    when: str = "true"


_LOGS = ("for f in $(ls /var/log/*.log /var/log/*/*.log 2>/dev/null); do "
         "echo \"==> $f <==\"; tail -n 200 \"$f\"; done")
_KUBECONFIGS = ("for f in $(ls /etc/kubernetes/*.conf /etc/kubernetes/*.kubeconfig "
                "/etc/rancher/k3s/*.yaml /root/.kube/config 2>/dev/null); do "
                "echo \"==> $f <==\"; cat \"$f\"; done")
_HAPROXY_SOCK = "$(ls /run/haproxy*.sock /run/haproxy/*.sock 2>/dev/null | head -n1)"

HOST_COLLECTORS = [
    Collector("processes.txt", "ps -o pid,ppid,stat,etime,args --forest -p \"$(host_pids | paste -sd,)\""),
    Collector("services.txt", "supervisorctl -c /etc/supervisor/harness.conf status",
              "command -v supervisorctl"),
    Collector("addresses.txt", "ip -d address show"),
    Collector("routes.txt", "ip -4 route show table all; echo; ip -6 route show table all"),
    Collector("neighbours.txt", "ip neigh show; ip -6 neigh show"),
    Collector("sockets.txt", "ss -tulpnH; echo; ss -tunaH"),
    Collector("logs.txt", _LOGS),
    Collector("kubeconfigs.txt", _KUBECONFIGS),
]

# etcdctl as the member itself is reached: its advertised client URL (from
# its service definition) and, where the setup made a PKI, its certificates
_ETCDCTL = (
    "ETCDCTL_API=3 etcdctl --command-timeout=3s "
    "--endpoints=\"$(sed -n 's/.*ETCD_ADVERTISE_CLIENT_URLS=\"\\([^\"]*\\)\".*/\\1/p' "
    "/etc/supervisor/conf.d/etcd.conf 2>/dev/null | head -n1)\" "
    f"$([ -f {ETCD_PKI_DIR}/ca.crt ] && echo --cacert {ETCD_PKI_DIR}/ca.crt "
    f"--cert {ETCD_PKI_DIR}/server.crt --key {ETCD_PKI_DIR}/server.key)")

COMPONENT_COLLECTORS = [
    Collector("etcd-members.txt", f"{_ETCDCTL} member list -w table",
              "command -v etcdctl && runs etcd"),
    Collector("etcd-endpoints.txt", f"{_ETCDCTL} endpoint status --cluster -w table",
              "command -v etcdctl && runs etcd"),
    Collector("haproxy-servers-state.txt",
              f"echo 'show servers state' | socat -t3 stdio unix-connect:{_HAPROXY_SOCK}",
              f"command -v socat && runs haproxy && [ -S {_HAPROXY_SOCK} ]"),
    Collector("haproxy-stat.txt",
              f"echo 'show stat' | socat -t3 stdio unix-connect:{_HAPROXY_SOCK}",
              f"command -v socat && runs haproxy && [ -S {_HAPROXY_SOCK} ]"),
    Collector("dns-zones.txt",
              "for z in $(named-checkconf -l 2>/dev/null | awk '$3==\"primary\"||$3==\"master\""
              "{print $1}'); do echo \";; zone $z as served\"; "
              "dig +time=2 +tries=1 @127.0.0.1 \"$z\" AXFR; done",
              "command -v named-checkconf && runs named"),
    Collector("bird-protocols.txt", "birdc -s /run/bird/bird.ctl show protocols all",
              "command -v birdc && runs bird"),
    Collector("bird-routes.txt", "birdc -s /run/bird/bird.ctl show route all",
              "command -v birdc && runs bird"),
    Collector("service-proxy-rules.txt",
              "iptables -t nat -S HARNESS-SERVICES; iptables -t nat -S | grep HARNESS-SVC; "
              "ip6tables -t nat -S 2>/dev/null | grep HARNESS; ip route show table main; "
              "ip -6 route show table main",
              "iptables -t nat -S HARNESS-SERVICES || ip6tables -t nat -S HARNESS-SERVICES"),
    Collector("nfs-exports.txt",
              "cat /etc/ganesha/ganesha.conf; echo; ss -tlnH 'sport = :2049'",
              "runs ganesha.nfsd"),
]


def _run_collector(host: Host, collector: Collector, timeout: float) -> str | None:
    """The collector's output, or None when its condition is false on the host."""
    cmd = (f"{HOST_SHELL_FUNCTIONS}\nif ! ({collector.when}) >/dev/null 2>&1; then exit 99; fi\n"
           f"{collector.command}")
    result = host.run(cmd, timeout=timeout)
    if result.rc == 99:
        return None
    text = result.stdout
    if result.stderr.strip():
        text += f"\n--- stderr ---\n{result.stderr}"
    if not result.ok:
        text += f"\n--- exit code {result.rc} ---\n"
    return text


def collect_host(host: Host, dest: Path, command_timeout: float = 10,
                 stop: threading.Event | None = None) -> list[str]:
    """Write every applicable collector's output into dest; return the file names."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for collector in HOST_COLLECTORS + COMPONENT_COLLECTORS:
        if stop is not None and stop.is_set():
            break
        try:
            text = _run_collector(host, collector, command_timeout)
        except Exception as exc:  # noqa: BLE001 - one broken collector never stops the rest
            text = f"collector failed: {type(exc).__name__}: {exc}\n"
        if stop is not None and stop.is_set():
            break  # past the host's time bound: the bundle is already written
        if text is None:
            continue
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
    futures = {pool.submit(collect_host, host, dest / name, command_timeout, stop): name
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
