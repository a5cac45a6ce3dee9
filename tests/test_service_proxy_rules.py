"""The kube-proxy stand-in's nat rules (the setups that still use it): the
iptables-restore input its template makes is accepted by the real iptables,
in a network namespace of its own, and picks every endpoint equally often."""
from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction

import pytest

from harness.setups.parts.service_proxy.proxy import CHAIN, ServiceEndpoints, render_rules

WEB = ServiceEndpoints("default/web", "10.0.0.10", 80, ("10.1.1.2", "10.1.2.3", "10.1.3.4"))
EMPTY = ServiceEndpoints("default/none", "10.0.0.12", 81, ())
WEB6 = ServiceEndpoints("default/web6", "fd00::10", 80, ("fd01::2", "fd01::3"))
SERVICES = [WEB, EMPTY, WEB6]


def service_rules(rules: str, service: ServiceEndpoints) -> list[str]:
    return [line for line in rules.splitlines() if line.startswith(f"-A {service.chain} ")]


def test_each_family_gets_only_its_own_services():
    v4, v6 = render_rules(SERVICES, ipv6=False), render_rules(SERVICES, ipv6=True)
    assert "-d 10.0.0.10/32 -p tcp --dport 80 " in v4 and WEB6.chain not in v4
    assert "-d fd00::10/128 -p tcp --dport 80 " in v6 and WEB.chain not in v6
    assert "--to-destination [fd01::3]:80" in v6
    # a service without endpoints has its chain and its jump, and no DNAT
    assert f"-j {EMPTY.chain}" in v4 and service_rules(v4, EMPTY) == []


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_endpoint_is_chosen_equally_often(count):
    service = ServiceEndpoints("default/many", "10.0.0.20", 80,
                               tuple(f"10.1.0.{i + 2}" for i in range(count)))
    rules = service_rules(render_rules([service], ipv6=False), service)
    assert [re.search(r"--to-destination (\S+):80", r)[1] for r in rules] == list(service.endpoints)
    # a rule is reached when every one before it did not match
    reached, chances = Fraction(1), []
    for rule in rules:
        found = re.search(r"--probability (\S+)", rule)
        p = Fraction(found[1]).limit_denominator(1000) if found else Fraction(1)
        chances.append(reached * p)
        reached *= 1 - p
    assert chances == [Fraction(1, count)] * count and reached == 0


@pytest.mark.skipif(not shutil.which("iptables-restore") or not shutil.which("unshare"),
                    reason="needs iptables and unshare (harness/install.sh)")
@pytest.mark.parametrize("ipv6, tool", [(False, "iptables"), (True, "ip6tables")])
def test_the_rules_load_into_a_real_nat_table(ipv6, tool):
    """Loaded twice (the proxy syncs the whole set at every change), in a
    network namespace of this test's own: never the machine's tables."""
    rules = render_rules(SERVICES, ipv6)
    loaded = subprocess.run(
        ["unshare", "--net", "sh", "-ec",
         f'{tool}-restore --noflush <<"RULES"\n{rules}RULES\n'
         f'{tool}-restore --noflush <<"RULES"\n{rules}RULES\n'
         f"{tool} -t nat -S"],
        capture_output=True, text=True, timeout=30)
    assert loaded.returncode == 0, loaded.stderr
    listed = loaded.stdout.splitlines()
    assert f"-N {CHAIN}" in listed

    def summary(lines):  # chain, matched ClusterIP or DNAT target: iptables -S adds `-m tcp`
        return sorted((line.split()[1], re.search(r"(-d|--to-destination) (\S+)", line)[2])
                      for line in lines if line.startswith("-A "))
    # the second load replaced the first: each rule once
    assert summary(listed) == summary(rules.splitlines())
