"""The conformance suites, run as a user runs them, on every documented setup.

Each run boots the setup's lab, applies the setup with the real daemons and
runs all of suites/. It must end with no failure and no error, and:
- every capability the setup's recipe provides is exercised: some test that
  requires it passed (test_lab alone meets no capability);
- every skip names a capability the target lacks (one not in PROVIDES), or
  is one of the few skips listed in STRUCTURAL (a test parametrized over
  something this topology does not have);
- every expected failure is one listed in XFAILS, and what it raised names
  the limitation (a broken cluster must not pass for a known limitation).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: the capabilities each setup's recipe (harness/setups/recipes.py) and
#: topology families give its target
PROVIDES = {
    "fcio-k8s": {"lab", "ipv4", "ipv6", "k8s-api", "etcd", "etcd-tls", "dns", "workloads",
                 "pod-network", "vxlan", "service-proxy", "make-kubeconfig", "haproxy", "frontend"},
    # seed 001: k3s's architecture on upstream components (kine on PostgreSQL, token joins,
    # flannel host-gw, local-path PVCs); NFS at host level only (no kernel NFS client here)
    "k3s": {"lab", "ipv4", "ipv6", "k8s-api", "dns", "workloads", "pod-network", "host-gw",
            "service-proxy", "haproxy", "frontend", "nfs", "datastore", "postgresql", "webgateway", "tls",
            "kine", "persistent-volumes", "make-kubeconfig", "token-join"},
    # seeds 002 and 003 on real components
    "nixos": {"lab", "ipv4", "ipv6", "easycerts", "etcd", "etcd-tls", "k8s-api", "pod-network", "vxlan",
              "dns", "service-proxy", "workloads"},
    "centos-hardway": {"lab", "ipv4", "etcd", "k8s-api", "flannel-config", "pod-network", "vxlan", "dns",
                       "service-proxy", "workloads"},
    # seed 004 on kubeadm; kube-router's BGP stands in for Calico
    "kubeadm-ha": {"lab", "ipv6", "k8s-api", "kubeadm", "etcd", "etcd-tls", "etcd-quorum", "bgp",
                   "bgp-service-ips", "pod-network", "dns", "service-proxy", "workloads"},
}
#: what each provisioner's hosts offer on top
PROVISIONER_PROVIDES = {"netns": {"popen", "connect"}, "docker": {"connect"}, "podman": {"connect"}}

#: skips that name no capability: (test id pattern, reason pattern), per setup
STRUCTURAL = {
    "fcio-k8s": [(r"test_ipv6_only_cluster_answers_aaaa", r"not an IPv6-only setup"),
                 (r"test_host_reaches_pods_only_on_the_cluster_network\[(\w+)\]", r"\1 hosts the pod"),
                 # the outside client is on the public network only
                 (r"test_host_reaches_pods_only_on_the_cluster_network\[client\]",
                  r"client shares no network with [a-z0-9-]+: no route to give it")],
    "k3s": [(r"test_ipv6_only_cluster_answers_aaaa", r"not an IPv6-only setup"),
            (r"test_host_reaches_pods_only_on_the_cluster_network\[(\w+)\]", r"\1 hosts the pod"),
            (r"test_host_gw_routes_are_the_other_nodes_subnets\[(\w+)\]", r"\1 has no Kubernetes role"),
            (r"test_host_reaches_pods_only_on_the_cluster_network\[client\]",
             r"client shares no network with [a-z0-9-]+: no route to give it")],
    "nixos": [(r"test_ipv6_only_cluster_answers_aaaa", r"not an IPv6-only setup"),
              (r"test_host_reaches_pods_only_on_the_cluster_network\[(\w+)\]", r"\1 hosts the pod")],
    "centos-hardway": [(r"test_host_reaches_pods_only_on_the_cluster_network\[(\w+)\]", r"\1 hosts the pod")],
    "kubeadm-ha": [(r"test_host_reaches_pods_only_on_the_cluster_network\[(\w+)\]", r"\1 hosts the pod")],
}

#: expected failures per setup: test id -> what it must have raised
PORT_CHANGE = ("test_changed_pod_port_is_picked_up",
               r"PortNotPickedUp: the pods answer on port 8081 .* HAProxy still sends them to port 8080")
#: CoreDNS 1.12 (kubeadm-ha's, as kubeadm 1.34 ships it) answers no wildcard
NO_WILDCARD = {f"test_wildcard_returns_exactly_the_pod_set[{n}]":
               (r"CoreDNS v1\.12\.\d+ answers NXDOMAIN: wildcard queries were removed in CoreDNS 1\.9\.0"
                r".* -- raised: .*NXDOMAIN while the service has the pods")
               for n in (0, 1, 3, 5)}
XFAILS = {"fcio-k8s": dict([PORT_CHANGE]), "k3s": dict([PORT_CHANGE]),
          "kubeadm-ha": {**NO_WILDCARD, "test_seed_004_control_plane_rejoins_while_its_old_member_is_listed":
                         r"RejoinHangs: cp3 did not rejoin: etcd still lists member [0-9a-f]+ on https://"}}


#: what the results must name as standing in for a component the setup's document names
STAND_INS = {"kubeadm-ha": ["kube-router stands in for Calico"]}


def run_suites(suites: str, topology: str, provisioner: str, tmp_path: Path):
    results, marks = tmp_path / "results", tmp_path / "marks.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", suites, "--topology", topology, "-q",
         "--provisioner", provisioner, "-p", "tests.suite_marks",
         "-p", "no:cacheprovider", "-rfEsxX", "--results-dir", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**__import__("os").environ, "HARNESS_SUITE_MARKS": str(marks)})
    summary = json.loads((results / "results.json").read_text()) if (results / "results.json").exists() else {}
    return run, summary.get("tests", []), json.loads(marks.read_text()) if marks.exists() else {}, \
        summary.get("components")


#: what the topology and the provisioner give every host, not the recipe: a
#: run need not exercise these (dual-stack setups skip the IPv6-only test)
NOT_OF_THE_RECIPE = {"lab", "ipv4", "ipv6", "popen", "connect"}


def judge(setup: str, provides: set[str], tests: list[dict], marks: dict) -> list[str]:
    """What is wrong with a run's results: a capability of the recipe no passed
    test exercised, a skip naming no missing capability (nor listed in
    STRUCTURAL), an xfail not listed or not raising its limitation."""
    problems = []
    exercised = {cap for t in tests if t["outcome"] == "passed" for cap in marks.get(t["nodeid"], ())}
    # a capability is owed a passed test where some test needing it can run at
    # all (vxlan on the wire also needs popen, which docker and podman hosts lack)
    required = {cap for caps in marks.values() if set(caps) <= provides for cap in caps}
    for cap in sorted((provides & required) - exercised - NOT_OF_THE_RECIPE):
        problems.append(f"{setup} provides {cap!r} but no test requiring it passed")
    for t in tests:
        name = t["nodeid"].split("::", 1)[-1]
        if t["outcome"] == "skipped":
            lacks = re.match(r"target lacks capability: ([\w, -]+) \(", t["reason"])
            named = {c.strip() for c in lacks.group(1).split(",")} if lacks else set()
            if lacks and not (named & provides):
                continue
            if not lacks and any(re.fullmatch(p, name) and re.search(m.expand(r), t["reason"])
                                 for p, r in STRUCTURAL.get(setup, ())
                                 for m in [re.fullmatch(p, name)] if m):
                continue
            problems.append(f"skip of {t['nodeid']} names no capability {setup} lacks: {t['reason']!r}")
        elif t["outcome"] in ("xfailed", "xpassed"):
            raised = XFAILS.get(setup, {}).get(name)
            if raised is None or t["outcome"] == "xpassed" or not re.search(raised, t["reason"]):
                problems.append(f"{t['nodeid']} {t['outcome']}: {t['reason']!r}, expected to raise "
                                f"{raised!r}")
    for name in sorted(set(XFAILS.get(setup, {})) - {t["nodeid"].split("::", 1)[-1] for t in tests
                                                     if t["outcome"] == "xfailed"}):
        problems.append(f"{name} should have shown its documented limitation on {setup}")
    return problems


@pytest.mark.parametrize("setup, provisioner",
                         [(s, "netns") for s in sorted(PROVIDES)] + [("fcio-k8s", "docker")])
def test_suites_pass_on_setup(setup, provisioner, tmp_path):
    """On the docker lab (.ci/start-daemons starts the engine) the same suites
    pass. Podman's hosts are the docker provisioner's on podman's socket:
    tests/test_podman.py runs every docker provisioner test there, a real
    cluster applied included, so the whole suites run once on container hosts."""
    run, tests, marks, components = run_suites("suites/", setup, provisioner, tmp_path)
    tail = run.stdout[-6000:]
    assert run.returncode == 0, f"suites failed on {setup}:\n{tail}\n{run.stderr[-2000:]}"
    # the report's badge: real components, naming what stands in for one the document names
    assert components == "; ".join(["real", *STAND_INS.get(setup, [])]), components
    problems = judge(setup, PROVIDES[setup] | PROVISIONER_PROVIDES[provisioner], tests, marks)
    assert not problems, "\n".join(problems) + f"\n{tail}"


def test_the_net_catches_what_it_is_for():
    """judge() itself, on made-up results: a skip of a provided capability, an
    unlisted skip, a broad xfail and a capability only test_lab passed are
    each reported."""
    marks = {"suites/test_lab.py::test_names_resolve[a]": [],
             "suites/test_dns.py::test_x": ["dns"],
             "suites/test_dns.py::test_y": ["dns"],
             "suites/test_haproxy.py::test_changed_pod_port_is_picked_up": ["haproxy"]}
    tests = [{"nodeid": "suites/test_lab.py::test_names_resolve[a]", "outcome": "passed", "reason": ""},
             {"nodeid": "suites/test_dns.py::test_x", "outcome": "skipped",
              "reason": "target lacks capability: dns (setup k3s, lab target)"},
             {"nodeid": "suites/test_dns.py::test_y", "outcome": "skipped", "reason": "no DNS today"},
             {"nodeid": "suites/test_haproxy.py::test_changed_pod_port_is_picked_up", "outcome": "xfailed",
              "reason": "seed 001 -- raised: WaitTimeout: timed out after 3s waiting for the rollout"}]
    problems = judge("k3s", {"dns", "haproxy"}, tests, marks)
    assert problems == [
        "k3s provides 'dns' but no test requiring it passed",
        "k3s provides 'haproxy' but no test requiring it passed",
        "skip of suites/test_dns.py::test_x names no capability k3s lacks: "
        "'target lacks capability: dns (setup k3s, lab target)'",
        "skip of suites/test_dns.py::test_y names no capability k3s lacks: 'no DNS today'",
        "suites/test_haproxy.py::test_changed_pod_port_is_picked_up xfailed: 'seed 001 -- raised: "
        "WaitTimeout: timed out after 3s waiting for the rollout', expected to raise "
        f"{PORT_CHANGE[1]!r}"]
    # and an expected failure that did not show is reported
    assert judge("k3s", set(), tests[:1], marks) == [
        "test_changed_pod_port_is_picked_up should have shown its documented limitation on k3s"]


def test_wildcard_promise_fails_plainly_on_current_coredns(tmp_path):
    """Seed 000's `dig *.myapp.default.svc.cluster.local` against the current
    CoreDNS line: every wildcard test must fail with the NXDOMAIN CoreDNS
    >= 1.9 gives for a service that has pods (strict xfail naming the
    version), the rest of the DNS suite must pass."""
    topology = ROOT / "tests" / "fixtures" / "topologies" / "fcio-k8s-coredns-now.yaml"
    run, tests, _, _ = run_suites("suites/test_dns.py", str(topology), "netns", tmp_path)
    tail = run.stdout[-4000:]
    assert run.returncode == 0, tail
    xfailed = {t["nodeid"].split("::", 1)[1]: t["reason"] for t in tests if t["outcome"] == "xfailed"}
    assert sorted(xfailed) == [f"test_wildcard_returns_exactly_the_pod_set[{n}]" for n in (0, 1, 3, 5)], tail
    for reason in xfailed.values():
        assert "CoreDNS v1.12" in reason and re.search(
            r"raised: (suites\.test_dns\.)?WildcardNotAnswered: \*\.dns-suite\.default\.svc\.cluster\.local on \w+: "
            r"NXDOMAIN while the service has the pods \['", reason), reason
    assert {t["outcome"] for t in tests} <= {"passed", "xfailed", "skipped"}, tail
