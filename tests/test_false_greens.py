"""No false greens: each suite check goes red, naming what broke, against a
lab broken in the way it is there to catch (tests/breakers.py breaks the
running lab before any test; the suites run as a user runs them)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

WILDCARD = r"\*\.dns-suite\.default\.svc\.cluster\.local"

FROM_OUTSIDE = "test_requests_from_outside_through_each_bind_reach_every_pod_and_no_removed_one"

#: (break, topology, suite, test that must fail, what its failure must say)
CASES = [
    ("dns-servfail", "fcio-k8s", "suites/test_dns.py", "test_wildcard_returns_exactly_the_pod_set[0]",
     rf"{WILDCARD} on \w+ is Resolution\(status='SERVFAIL', addresses=\[\]\) 1s after the scale to 1"),
    ("dns-servfail", "fcio-k8s", "suites/test_dns.py",
     "test_service_name_resolves_to_its_service_ip_from_every_kubernetes_host", r"'SERVFAIL'"),
    ("dns-no-wildcard", "fcio-k8s", "suites/test_dns.py", "test_wildcard_returns_exactly_the_pod_set[3]",
     rf"WildcardNotAnswered: {WILDCARD} on \w+: NXDOMAIN while the service has the pods"),
    ("frontend-cannot-reach-pods", "k3s", "suites/test_haproxy.py", "test_changed_pod_port_is_picked_up",
     # not reported as the known limitation: HAProxy's checks never reach the pods
     r"WaitTimeout: timed out after [\d.]+s waiting for HAProxy UP servers of suite-web to equal the pods"),
    ("etcd-no-client-cert-auth", "nixos", "suites/test_etcd.py",
     "test_tls_etcd_refuses_plaintext_and_certificate_less_clients",
     r"master answered a client without a certificate"),
    ("nginx-other-certificate", "k3s", "suites/test_webgateway.py",
     "test_every_public_address_serves_the_vhost_a_certificate_of_the_ca",
     r"TLS on 192\.0\.2\.11: rc=1: depth=1 CN = someone else's CA\nE\s+"
     r"verify error:num=19:self-signed certificate in certificate chain"),
    ("nginx-first-address-only", "k3s", "suites/test_webgateway.py",
     "test_every_public_address_serves_the_vhost_a_certificate_of_the_ca",
     r"TLS on 2001:db8:2::[0-9a-f]+: .*(Connection refused|connect:errno=111)"),
    ("cluster-network-open", "k3s", "suites/test_reachability.py",
     "test_host_reaches_pods_only_on_the_cluster_network[vm01]",
     r"host:vm01 \(routed via agent1\) reached KubePod\(name='a'.* at http://[\d.:]+/ but the "
     r"cluster network must be closed to it"),
    ("haproxy-bound-on-srv", "fcio-k8s", "suites/test_haproxy.py", f"{FROM_OUTSIDE}[ipv4]",
     r"\[client\] `curl .* http://198\.51\.100\.2:8000/` failed \(rc=7: .*198\.51\.100\.2 port 8000"),
    # the frontend itself still gets through (over loopback): only a client outside sees it
    ("fe-port-closed", "fcio-k8s", "suites/test_haproxy.py", f"{FROM_OUTSIDE}[ipv4]",
     r"\[client\] `curl .* http://198\.51\.100\.2:8000/` failed \(rc=7: .*198\.51\.100\.2 port 8000"),
    ("kubeconfig-token-revoked", "fcio-k8s", "suites/test_health.py",
     "test_make_kubeconfig_works_from_another_host_for_365_days",
     r"AssertionError: the kubeconfig's token alone, from node\d: rc=1: .*Unauthorized"),
    ("kubelet-master-stopped", "fcio-k8s", "suites/test_health.py",
     "test_every_node_is_ready_at_the_pinned_version", r"AssertionError: master is not Ready: .*NodeStatusUnknown"),
]


#: breaks that share a lab, each in a part of the cluster the others' tests do
#: not go through (a break not listed has a lab of its own)
SHARING = [("dns-servfail", "haproxy-bound-on-srv", "kubeconfig-token-revoked"),
           ("dns-no-wildcard", "fe-port-closed"),
           ("frontend-cannot-reach-pods", "nginx-other-certificate", "cluster-network-open")]


def lab_of(breakage: str) -> tuple[str, ...]:
    """The breaks applied to the lab `breakage` is tested on."""
    return next((shared for shared in SHARING if breakage in shared), (breakage,))


def run_broken(breakage: str, topology: str, suites: list[str], tmp_path: Path,
               keyword: str | None = None):
    results = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *suites, "--topology", topology, "-q", "-p", "tests.breakers",
         "-p", "no:cacheprovider", "--results-dir", str(results), *(["-k", keyword] if keyword else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "HARNESS_BREAK": breakage})
    assert (results / "results.json").exists(), run.stdout[-3000:] + run.stderr[-2000:]
    tests = json.loads((results / "results.json").read_text())["tests"]
    return run, {t["nodeid"].split("::", 1)[1]: t for t in tests}


#: the breaks of one lab -> its run
RUNS: dict[tuple[str, ...], tuple] = {}


def broken_run(breakage: str, topology: str, tmp_path_factory):
    """The run of the suites of every case of the breaks `breakage` shares a
    lab with, on that lab broken by them all, selecting those cases' tests."""
    key = lab_of(breakage)
    if key not in RUNS:
        cases = [case for case in CASES if case[0] in key]
        assert {case[1] for case in cases} == {topology}, f"{key}: one topology per lab"
        keywords = sorted({case[3].split("[")[0] for case in cases})
        RUNS[key] = run_broken(",".join(key), topology, sorted({case[2] for case in cases}),
                               tmp_path_factory.mktemp(key[0]), keyword=" or ".join(keywords))
    return RUNS[key]


def failure_text(stdout: str, test: str) -> str:
    """The failure section pytest printed for `test` (its traceback and message;
    a name wider than the terminal gets one underscore either side)."""
    sections = re.split(r"^_+ (test\S+) _+$", stdout.split("short test summary info")[0], flags=re.M)
    return dict(zip(sections[1::2], sections[2::2])).get(test, "")


@pytest.mark.parametrize("breakage, topology, suite, test, says", CASES,
                         ids=[f"{c[1]}-{c[0]}-{c[3]}" for c in CASES])
def test_suite_goes_red_naming_what_broke(breakage, topology, suite, test, says, tmp_path_factory):
    run, tests = broken_run(breakage, topology, tmp_path_factory)
    assert run.returncode == 1, run.stdout[-3000:]
    assert tests[test]["outcome"] in ("failed", "timeout"), tests[test]  # a WaitTimeout is a timeout
    text = failure_text(run.stdout, test)
    assert re.search(says, text), text[-3000:] or run.stdout[-3000:]
