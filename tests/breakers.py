"""A pytest plugin that breaks a lab the way a cluster breaks, for
tests/test_false_greens.py: loaded into a suites run (`-p tests.breakers`),
it applies $HARNESS_BREAK (one break, or several separated by commas) to
the target once the setup is applied and before any test, so the suites
meet a cluster broken in that way.

Each break works on the running daemons (config and restart, firewall
rules, certificates), never on the harness's own objects: the suites must see
it from outside, as they would see it on a customer's cluster."""
from __future__ import annotations

import base64
import json
import os
import re
import shlex

import pytest
import yaml

from harness import artifacts
from harness.lab.host import HOST_BIN_DIR
from harness.lab.net import bracketed
from harness.lab.wait import wait_until

BREAKS = {}


def breaks(name: str):
    def register(function):
        BREAKS[name] = function
        return function
    return register


def coredns_answers(target, name: str, rcode: str) -> None:
    """CoreDNS answers every query for `name` and below with `rcode`: a
    server block of its own for that zone in the Corefile (the template
    plugin, no records), CoreDNS rolled out again, and every host that uses
    the cluster DNS seeing that answer."""
    from harness.setups.parts.kubernetes import coredns
    cluster = target.kubernetes
    config = json.loads(cluster.kubectl("get", "configmap", "coredns", "-n", coredns.NAMESPACE, "-o", "json"))
    corefile = config["data"]["Corefile"] + f"{name}:53 {{\n    template ANY ANY {{\n        rcode {rcode}\n    }}\n}}\n"
    cluster.kubectl("patch", "configmap", "coredns", "-n", coredns.NAMESPACE, "--type", "merge",
                    "-p", json.dumps({"data": {"Corefile": corefile}}))
    cluster.kubectl("rollout", "restart", "deployment/coredns", "-n", coredns.NAMESPACE)
    cluster.kubectl("rollout", "status", "deployment/coredns", "-n", coredns.NAMESPACE, "--timeout=120s",
                    timeout=130)
    for host in target.service_proxy.hosts:
        wait_until(lambda: target.resolve(name, host).status == rcode, f"{name} {rcode} on {host.name}", 30, 0.2)


DNS_SUITE_NAME = "dns-suite.default.svc.cluster.local"


@breaks("dns-servfail")
def dns_servfail(target):
    """The DNS suite's service name (and its wildcard) answered SERVFAIL."""
    coredns_answers(target, DNS_SUITE_NAME, "SERVFAIL")


@breaks("dns-no-wildcard")
def dns_no_wildcard(target):
    """The DNS suite's service name and its wildcard answered NXDOMAIN,
    whatever pods it has (as CoreDNS >= 1.9 answers the wildcard)."""
    coredns_answers(target, DNS_SUITE_NAME, "NXDOMAIN")


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


def public_to_srv(target) -> dict[str, str]:
    """The frontend's public addresses (of networks no other Kubernetes host
    is on), each to its SRV address of the same family."""
    host = target.frontend.host
    shared = {n for h in target.cluster_hosts if h is not host for n in h.spec.addresses}
    srv = next(n for n in host.spec.addresses if n in shared)
    return {bracketed(host.address(net, family)): bracketed(host.address(srv, family))
            for net, families in host.spec.addresses.items() if net not in shared for family in families}


@breaks("haproxy-bound-on-srv")
def haproxy_bound_on_srv(target):
    """The frontend's HAProxy binds its SRV address wherever its config names
    a public one, as a role that ignores the bind it is given would: a
    wrapper before the real haproxy on the frontend's PATH rewrites each
    config file it is started with."""
    host = target.frontend.host
    real = host.succeed("command -v haproxy").strip()
    edits = [f"s/{re.escape(public)}:/{srv}:/g" for public, srv in public_to_srv(target).items()]
    host.put_file(f"{HOST_BIN_DIR}/haproxy", "#!/bin/sh\n"
                  'prev=; for arg; do [ "$prev" = -f ] && sed -i '
                  + " ".join(f"-e {shlex.quote(e)}" for e in edits)
                  + f' "$arg"; prev=$arg; done\nexec {shlex.quote(real)} "$@"\n', mode=0o755)


@breaks("fe-port-closed")
def fe_port_closed(target):
    """The frontend's firewall refuses TCP to its public addresses from
    anywhere but the frontend itself (which reaches them over loopback)."""
    host = target.frontend.host
    for public in public_to_srv(target):
        tool = "ip6tables" if public.startswith("[") else "iptables"
        host.succeed(shlex.join([tool, "-I", "INPUT", "!", "-i", "lo", "-d", public.strip("[]"), "-p", "tcp",
                                 "-j", "REJECT", "--reject-with", "tcp-reset"]))


@breaks("kubeconfig-token-revoked")
def kubeconfig_token_revoked(target):
    """The service-account token `kubernetes-make-kubeconfig` puts in its
    kubeconfigs is revoked: its Secret is labelled invalid, as Kubernetes
    marks a legacy token (the command hands out the same token again)."""
    cluster = target.kubernetes
    user = yaml.safe_load(cluster.admin_host.succeed("kubernetes-make-kubeconfig"))["users"][0]["user"]
    secrets = json.loads(cluster.kubectl("get", "secrets", "-n", "kube-system", "-o", "json"))["items"]
    held = next(s["metadata"]["name"] for s in secrets
                if base64.b64decode(s.get("data", {}).get("token", "")).decode() == user["token"])
    cluster.kubectl("label", "secret", "-n", "kube-system", held,
                    "kubernetes.io/legacy-token-invalid-since=2024-01-01")


@breaks("cluster-network-open")
def cluster_network_open(target):
    """The nodes forward anything to their pods: the filter that closes the
    cluster network to hosts without a Kubernetes role is gone."""
    for host in target.cluster_hosts:
        host.succeed("iptables -F FORWARD && ip6tables -F FORWARD")


@pytest.fixture(scope="session", autouse=True)
def broken_target(target):
    for name in filter(None, os.environ.get("HARNESS_BREAK", "").split(",")):
        BREAKS[name](target)
        print(f"tests.breakers: broke the lab: {name}")
    return target


