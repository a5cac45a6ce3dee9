"""Asking a host's own resolver (its /etc/resolv.conf) for a name, as a pod
or HAProxy there would: `dig` run on the host, whatever serves the cluster
DNS (the BIND stand-in or a real CoreDNS)."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.lab.host import Host

_STATUS = re.compile(r"status: ([A-Z]+)")


class DNSError(RuntimeError):
    pass


@dataclass(frozen=True)
class Answer:
    name: str
    rdtype: str
    status: str  # NOERROR, NXDOMAIN, SERVFAIL ...
    addresses: tuple[str, ...]


def lookup(from_host: Host, name: str, rdtype: str = "A") -> Answer:
    out = from_host.run(shlex.join(["dig", "+tries=2", "+time=1", "+noall", "+answer",
                                    "+comments", rdtype, name]))
    status = _STATUS.search(out.stdout)
    if not status:
        raise DNSError(f"no DNS answer for {name} {rdtype} on {from_host.name}: {out.summary()}")
    addrs = [parts[4] for line in out.stdout.splitlines()
             if not line.startswith(";") and len(parts := line.split()) == 5 and parts[3] == rdtype]
    return Answer(name, rdtype, status.group(1), tuple(sorted(addrs)))


def resolver(families: list[str]):
    """`target.resolve(name, from_host)`: the addresses of the cluster's
    families (A and/or AAAA), sorted; empty for NXDOMAIN."""
    rdtypes = ["A" if f == "ipv4" else "AAAA" for f in families]

    def resolve(name: str, from_host: Host, types: list[str] | None = None) -> list[str]:
        return sorted(ip for t in (types or rdtypes) for ip in lookup(from_host, name, t).addresses)
    return resolve
