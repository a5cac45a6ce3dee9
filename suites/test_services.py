"""Services through their Service IP (seed 000): "Every VM with a Kubernetes
role runs a kube-proxy that sets up iptables rules that allows access of
Kubernetes services via their Service IP (also called Cluster IP) ... The
kube-proxy provides load-balancing if there are multiple pods running behind
a service." Seed 001's `servicePort`: HAProxy forwards "to the service and
let[s] kube-proxy distribute the traffic between pods". Written against
Target/Host only.
"""
from __future__ import annotations

import shlex

import pytest

from harness.lab.net import bracketed
from harness.lab.wait import wait_until

pytestmark = pytest.mark.requires("service-proxy", "workloads")

PORT = 8090
#: requests per check: with 3 pods chosen at random, one is missed by all
#: 30 with probability 3 * (2/3)^30 < 2e-5
TRIES = 30


def proxy_hosts(target):
    """The hosts the setup's documents run kube-proxy on."""
    return target.service_proxy.hosts


@pytest.fixture(scope="module")
def app(target):
    workload = target.workload("svc-suite", port=PORT).scale(3)
    yield workload
    workload.scale(0)


def answers(client, ip: str, port: int, tries: int = TRIES) -> dict[str, int]:
    """Which pod answered how often, over `tries` new connections from
    `client` (a host or a pod)."""
    result = client.run(
        f"for i in $(seq {tries}); do out=$(curl -sS -g -m 3 http://{bracketed(ip)}:{port}/ 2>&1) "
        "|| out=\"(failed) $out\"; echo \"$out\"; done")
    assert result.ok, result.summary()
    counts: dict[str, int] = {}
    for line in result.stdout.splitlines():   # a failure keeps curl's own words
        counts[line] = counts.get(line, 0) + 1
    return counts


def test_service_ip_balances_over_every_pod_from_every_proxy_host(target, app):
    pods = {p.name for p in app.pods}
    wrong = {}
    for host in proxy_hosts(target):
        seen = answers(host, app.cluster_ip, PORT)
        if set(seen) != pods:
            wrong[host.name] = seen
    assert not wrong, f"{app.cluster_ip}:{PORT} should spread over exactly {sorted(pods)}; got {wrong}"


def test_service_ip_reaches_the_pods_from_a_pod(target, app):
    client = target.workload("svc-suite-client", port=PORT + 1).scale(1)
    try:
        pod = client.pods[0]
        seen = set(answers(pod, app.cluster_ip, PORT, tries=10))
        assert seen and seen <= {p.name for p in app.pods}, f"from pod {pod.name}: {seen}"
    finally:
        client.scale(0)


def test_service_ip_follows_scaling_and_refuses_without_pods(target, app):
    host = proxy_hosts(target)[0]
    try:
        app.scale(1)
        [only] = app.pods
        assert answers(host, app.cluster_ip, PORT, tries=8) == {only.name: 8}
        app.scale(0)
        refused = host.run(shlex.join(["curl", "-sS", "-g", "-m", "3", f"http://{bracketed(app.cluster_ip)}:{PORT}/"]))
        assert refused.rc == 7, f"with no pods the Service IP should refuse at once: {refused}"
    finally:
        app.scale(3)
    assert set(answers(host, app.cluster_ip, PORT)) == {p.name for p in app.pods}


@pytest.mark.requires("haproxy")
def test_frontend_service_port_forwards_through_the_service_ip(target, app):
    frontend = target.frontend
    host = frontend.host
    ip = next(host.address(net, fam) for net in host.spec.addresses for fam in ("ipv4", "ipv6")
              if host.spec.addresses[net].get(fam))
    listen = f"{bracketed(ip)}:8001"
    frontend.configure("svc-suite", binds=[listen], servicePort=PORT, namespace=app.namespace)
    try:
        pods = {p.name for p in app.pods}
        wait_until(lambda: frontend.request(listen) in pods,
                   f"the frontend's servicePort listen {listen} to answer", 15)
        seen = {frontend.request(listen) for _ in range(TRIES)}
        assert seen == pods, f"servicePort through {app.cluster_ip} should reach {sorted(pods)}: {seen}"
    finally:
        frontend.remove("svc-suite")
