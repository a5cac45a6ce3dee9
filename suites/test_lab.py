"""The lab itself behaves like the machines the seeds describe: every host
reaches every other over each network it shares with it, in each address
family of that network; names resolve; a service on one host is reachable
from the others. A red result here means the lab, not the cluster, is broken.
"""
import shlex

import pytest

PORT = 7070


def test_host_reaches_host(lab, link):
    src, dst, net, family = link
    source, dest = lab.host(src), lab.host(dst)
    address = dest.address(net, family)
    result = source.run(shlex.join(["ping", f"-{family[-1]}", "-c", "1", "-W", "2", str(address)]))
    assert result.ok, f"{src} cannot reach {dst} at {address} on {net}: {result.summary()}"


def test_names_resolve(lab, host_name):
    """Every host's name resolves, on each host, to addresses that host really
    has on its links (as its kernel lists them)."""
    host = lab.host(host_name)
    for other in lab.hosts.values():
        seen = set(host.succeed(f"getent ahosts {shlex.quote(other.name)} | awk '{{print $1}}'").split())
        held = {a.split()[1].split("/")[0] for a in other.addresses()}
        assert seen and seen <= held, f"on {host_name}, {other.name} resolves to {seen}; it has {held}"


def test_service_reachable_from_other_hosts(lab, host_name):
    server = lab.host(host_name)
    service = server.service("lab-echo")
    service.define(f"socat TCP6-LISTEN:{PORT},ipv6only=0,reuseaddr,fork SYSTEM:'echo from-$(hostname)'")
    try:
        service.wait_for_state("RUNNING", timeout=10)
        server.wait_for_port(PORT, timeout=10)
        peers = [h for h in lab.hosts.values()
                 if h is not server and set(h.spec.addresses) & set(server.spec.addresses)]
        if not peers:
            pytest.skip(f"{host_name} shares no network with another host")
        for peer in peers:
            net = next(n for n in peer.spec.addresses if n in server.spec.addresses)
            for family in lab.topology.networks[net].families:
                addr = server.address(net, family)
                target = f"[{addr}]" if family == "ipv6" else addr
                answer = peer.succeed(shlex.join(["socat", "-T", "3", "-", f"TCP:{target}:{PORT}"]) + " </dev/null").strip()
                assert answer == f"from-{host_name}", f"{peer.name} -> {addr}:{PORT} answered {answer!r}"
    finally:
        service.stop()
