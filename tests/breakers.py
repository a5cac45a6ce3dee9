"""A pytest plugin that breaks a lab the way a cluster breaks, for
tests/test_false_greens.py: loaded into a suites run (`-p tests.breakers`),
it applies $HARNESS_BREAK to the target once the setup is applied and
before any test, so the suites meet a cluster broken in that one way.

Each break works on the running daemons (config and restart, firewall
rules, certificates), never on the harness's own objects: the suites must see
it from outside, as they would see it on a customer's cluster."""
from __future__ import annotations

import json
import os
import shlex

import pytest

from harness import artifacts
from harness.lab.wait import wait_until

BREAKS = {}


def breaks(name: str):
    def register(function):
        BREAKS[name] = function
        return function
    return register


def bind_zone_over(target, name: str, options: str, zone_text: str | None) -> None:
    """A zone of its own for `name` in the BIND stand-in, which then answers
    every query for `name` and below from it, and named restarted."""
    from harness.setups.parts.dns.zone import NAMED_CONF, NAMED_DIR
    host = target.dns.host
    path = f"{NAMED_DIR}/broken-{name}.zone"
    if zone_text is not None:
        host.put_file(path, zone_text)
    conf = host.get_file(NAMED_CONF).decode()
    host.put_file(NAMED_CONF, conf + f'zone "{name}" {{ type primary; file "{path}"; {options} }};\n')
    host.service("named").restart()
    host.service("named").wait_for_state("RUNNING", 15)


EMPTY_ZONE = "$TTL 1\n@ SOA ns. hostmaster. 1 1 1 1 1\n@ NS ns.\n"
DNS_SUITE_NAME = "dns-suite.default.svc.cluster.local"


@breaks("dns-servfail")
def dns_servfail(target):
    """The DNS suite's service name (and its wildcard) answered SERVFAIL: a
    zone whose file cannot be loaded."""
    bind_zone_over(target, DNS_SUITE_NAME, "", None)


@breaks("dns-refused")
def dns_refused(target):
    """The DNS suite's service name answered REFUSED."""
    bind_zone_over(target, DNS_SUITE_NAME, "allow-query { none; };", EMPTY_ZONE)


@breaks("dns-no-wildcard")
def dns_no_wildcard(target):
    """The DNS suite's service is served from a zone without its records:
    NXDOMAIN for its wildcard, whatever pods it has (as CoreDNS >= 1.9)."""
    bind_zone_over(target, DNS_SUITE_NAME, "", EMPTY_ZONE)


@breaks("frontend-cannot-reach-pods")
def frontend_cannot_reach_pods(target):
    """The frontend's packets to the pod network are rejected: HAProxy sees
    no pod UP, nothing it forwards arrives."""
    host = target.frontend.host
    for cidr in target.lab.topology.pod_cidrs:
        tool = "iptables" if cidr.version == 4 else "ip6tables"
        host.succeed(shlex.join([tool, "-I", "OUTPUT", "-d", str(cidr), "-j", "REJECT"]))


@breaks("etcd-no-client-cert-auth")
def etcd_no_client_cert_auth(target):
    """Every etcd member restarted with client certificate auth off: TLS
    still, but any client is answered."""
    etcd = target.etcd
    for name, member in etcd.members.items():
        env = dict(etcd._environment(member, "existing"), ETCD_CLIENT_CERT_AUTH="false")
        del env["ETCD_TRUSTED_CA_FILE"]  # with a client CA, etcd verifies client certificates anyway
        member.host.service("etcd").define(str(artifacts.binary("etcd")), environment=env, autostart=True)
        member.host.service("etcd").wait_for_state("RUNNING", 15)
    etcd.wait_healthy()


def reload_nginx(host) -> None:
    """Reload nginx with what is on disk now, and wait until its old workers
    (which still hold the old sockets and certificate) are gone."""
    from harness.setups.parts.webgateway.nginx import CONFIG_PATH
    host.succeed(shlex.join(["nginx", "-t", "-q", "-c", CONFIG_PATH]))
    master = host.succeed("cat /run/nginx.pid").strip()
    old_workers = host.succeed(shlex.join(["pgrep", "-P", master])).split()
    host.succeed(shlex.join(["nginx", "-s", "reload", "-c", CONFIG_PATH]))
    host.wait_until_succeeds(" && ".join(f"! test -e /proc/{pid}" for pid in old_workers), 10)


@breaks("nginx-other-certificate")
def nginx_other_certificate(target):
    """nginx serves a certificate for the vhost from another CA (chain and
    key on disk replaced, nginx reloaded)."""
    from harness.setups.pki import Certificate, Pki
    from harness.setups.parts.webgateway.nginx import CERT, KEY
    gw = target.webgateway
    other = Pki("someone else's CA")
    cert, key = other.issue(Certificate("vhost", gw.vhost, "server", hosts=(gw.vhost,)))
    gw.host.put_file(KEY, key, mode=0o600)
    gw.host.put_file(CERT, cert + other.ca)
    reload_nginx(gw.host)


@breaks("nginx-first-address-only")
def nginx_first_address_only(target):
    """nginx listens on the first public address only (its IPv4 one)."""
    from harness.setups.parts.webgateway import nginx
    gw = target.webgateway
    gw.host.put_file(nginx.CONFIG_PATH, nginx.config(gw.vhost, gw.addresses[:1]))
    reload_nginx(gw.host)


@breaks("kubelet-master-stopped")
def kubelet_master_stopped(target):
    """The master's kubelet is stopped; once the node controller has marked
    the master's Node NotReady, the suites run."""
    master = target.kubernetes.admin_host
    master.service("kubelet").stop()

    def ready() -> str:
        node = json.loads(target.kubernetes.kubectl("get", "node", master.name, "-o", "json"))
        return {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    wait_until(lambda: ready() != "True", f"Node {master.name} NotReady", 120, 1)


@breaks("cluster-network-open")
def cluster_network_open(target):
    """The nodes forward anything to their pods: the filter that closes the
    cluster network to hosts without a Kubernetes role is gone."""
    for host in target.cluster_hosts:
        host.succeed("iptables -F FORWARD && ip6tables -F FORWARD")


@pytest.fixture(scope="session", autouse=True)
def broken_target(target):
    name = os.environ.get("HARNESS_BREAK")
    if name:
        BREAKS[name](target)
        print(f"tests.breakers: broke the lab: {name}")
    return target


