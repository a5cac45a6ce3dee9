"""Asking a host's own resolver (its /etc/resolv.conf), or a given server,
for a name, as a pod or HAProxy there would: `dig +yaml` run on the host,
whatever serves the cluster DNS (the BIND stand-in or a real CoreDNS);
and the resolv.conf that points a host at the cluster DNS."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import yaml

from harness.lab import templates

if TYPE_CHECKING:
    from harness.lab.host import Host


def resolv_conf(nameserver: str, domain: str) -> str:
    """/etc/resolv.conf for a host that resolves through the cluster DNS
    (short timeouts: a dead DNS shows as a failed lookup, not a hang)."""
    return templates.render(Path(__file__).parent, "resolv.conf.j2", nameserver=nameserver,
                            domain=domain)


class DNSError(RuntimeError):
    pass


@dataclass(frozen=True)
class Answer:
    name: str
    rdtype: str
    status: str  # NOERROR, NXDOMAIN, SERVFAIL ...
    addresses: tuple[str, ...]


def lookup(from_host: Host, name: str, rdtype: str = "A", server: str | None = None) -> Answer:
    """The response's status and the answer's addresses (rdata of `rdtype`
    records, sorted). DNSError when no response came."""
    out = from_host.run(shlex.join(["dig", "+yaml", "+tries=2", "+time=1",
                                    *([f"@{server}"] if server else []), rdtype, name]))
    try:
        response = next(m["message"]["response_message_data"] for m in yaml.safe_load(out.stdout)
                        if "response_message_data" in m.get("message", {}))
        status = response["status"]
    except (yaml.YAMLError, StopIteration, KeyError, TypeError, AttributeError):
        raise DNSError(f"no DNS answer for {name} {rdtype} on {from_host.name}: {out.summary()}") from None
    # each answer record as dig writes it: "name ttl class type rdata"
    records = [record.split() for record in response.get("ANSWER_SECTION") or ()]
    return Answer(name, rdtype, status, tuple(sorted(r[4] for r in records if len(r) == 5 and r[3] == rdtype)))


class Resolution(NamedTuple):
    """What `target.resolve` saw: the response status (NOERROR, NXDOMAIN,
    SERVFAIL, REFUSED ...; one per record type asked when they differ, as
    "A:NOERROR AAAA:SERVFAIL") and the addresses, sorted. A tuple, so a suite
    compares it with `("NOERROR", [ip])`: an empty answer is never mistaken
    for a refusal or a failure."""
    status: str
    addresses: list[str]


def resolver(families: list[str]):
    """`target.resolve(name, from_host)`: the status and the addresses of the
    cluster's families (A and/or AAAA)."""
    rdtypes = ["A" if f == "ipv4" else "AAAA" for f in families]

    def resolve(name: str, from_host: Host, types: list[str] | None = None) -> Resolution:
        answers = [lookup(from_host, name, t) for t in (types or rdtypes)]
        statuses = {a.status for a in answers}
        status = statuses.pop() if len(statuses) == 1 else " ".join(f"{a.rdtype}:{a.status}" for a in answers)
        return Resolution(status, sorted(ip for a in answers for ip in a.addresses))
    return resolve
