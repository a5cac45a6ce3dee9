"""Cluster health as seed 000 documents it ("Basic Health Checks",
"External API Access", LoadBalancer services), plus what a health check of
a real control plane looks at: the components' health endpoints, RBAC
(seed 002: "RBAC on by default") and what listens where (seed 003's
"what's listening where", for today's ports). Written against Target/Host.
"""
from __future__ import annotations

import base64
import datetime
import json
import re
import shlex

import pytest
import yaml

from harness.lab.wait import wait_until

pytestmark = pytest.mark.requires("k8s-api")

#: seed 000: "The certificate is valid for 365 days"
CERT_DAYS = 365

#: TCP listeners each component may have: (process name as the kernel shortens
#: it, where: "loopback", "node" (the host's cluster address), "any", and port
#: or None for any port). Seed 003's "What's listening where", for today's
#: ports: etcd 2379/2380 (seed 003 listens on all addresses, seeds 000/002 on
#: loopback), the apiserver's secure 6443 (the insecure 8080 is gone since
#: 1.20), the controller-manager's 10257 and the scheduler's 10259 (10252 and
#: 10251 were their insecure ports, gone too), the kubelet's 10250 (cAdvisor's
#: 4194 is gone since 1.12).
ETCD = {("etcd", where, port) for where in ("loopback", "node", "any") for port in (2379, 2380)}
LISTENERS = {
    "control plane": {("kube-apiserver", "any", 6443), ("kube-controller", "loopback", 10257),
                      ("kube-scheduler", "loopback", 10259),
                      # seed 002's easyCerts: "a certificate authority (CA) daemon (cfssl)"
                      ("cfssl", "node", 8888)},
    "kubelet": {("kubelet", "node", 10250), ("kubelet", "loopback", 10248),
                # CRI streaming (exec, port-forward) on a random loopback port
                ("containerd", "loopback", None)},
    "kube-proxy": {("kube-proxy", "loopback", 10249), ("kube-proxy", "loopback", 10256)},
    # seed 001's server: PostgreSQL for the agents' refusal, kine (etcd's API, metrics) for the apiserver
    "datastore": {("postgres", "node", 5432), ("kine", "loopback", 2379), ("kine", "loopback", 2381)},
    # seed 001's webgateway: nginx on the public addresses
    "webgateway": {("nginx", "node", 80), ("nginx", "node", 443)},
    # kubeadm's defaults: the kubelet and kube-proxy's health on every address, etcd's metrics
    "kubeadm": {("kubelet", "any", 10250), ("kube-proxy", "any", 10256), ("etcd", "loopback", 2381)},
    # kube-router (seed 004's BGP): BGP, GoBGP's gRPC API, its health port
    "kube-router": {("kube-router", "node", 179), ("kube-router", "node", 50051),
                    ("kube-router", "loopback", 50051), ("kube-router", "any", 20244)},
}
CONTROL_PLANE_ROLES = {"master", "server"}


def kubectl(target, *args: str, input: str | None = None) -> str:
    return target.kubernetes.kubectl(*args, input=input)


def control_planes(target):
    return [plane.host for plane in target.kubernetes.control_planes]


def registered_nodes(target) -> dict[str, dict]:
    return {n["metadata"]["name"]: n
            for n in json.loads(kubectl(target, "get", "nodes", "-o", "json"))["items"]}


def test_kubectl_cluster_info_on_every_control_plane(target):
    for host in control_planes(target):
        out = host.succeed("kubectl cluster-info")
        assert re.search(r"control plane is running at https://\S+:6443", out), f"{host.name}: {out}"


def test_cluster_admin_kubeconfig_is_root_only(target):
    """seed 002: "only root on the kubernetes master may obtain cluster-admin
    rights by means of this file" (/etc/kubernetes/cluster-admin.kubeconfig;
    kubeadm's is /etc/kubernetes/admin.conf)."""
    path = target.kubernetes.admin_kubeconfig
    for host in control_planes(target):
        mode = host.succeed(shlex.join(["stat", "-c", "%a %U", path])).split()
        assert mode == ["600", "root"], f"{host.name}: {path} is {mode}"


def test_every_node_is_ready_at_the_pinned_version(target):
    """Every host the setup runs a kubelet on (seed 000: the master and the
    frontend too, with a NoSchedule taint) must be a Ready node."""
    found = registered_nodes(target)
    version = target.kubernetes.versions["kubernetes"]
    for host in target.kubelets:
        assert host.name in found, f"{host.name} did not register (nodes: {sorted(found)})"
        node = found[host.name]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", f"{host.name} is not Ready: {node['status']['conditions']}"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == version


@pytest.mark.parametrize("check", ["livez", "readyz"])
def test_apiserver_health_endpoints(target, check):
    assert kubectl(target, "get", "--raw", f"/{check}").strip() == "ok"


@pytest.mark.parametrize("component, port", [("kube-controller-manager", 10257),
                                             ("kube-scheduler", 10259)])
def test_controller_manager_and_scheduler_healthz(target, component, port):
    for host in control_planes(target):
        out = host.succeed(shlex.join(["curl", "-sk", f"https://127.0.0.1:{port}/healthz"]))
        assert out.strip() == "ok", f"{component} on {host.name}: {out}"


def _listeners(host) -> list[tuple[str, str, int]]:
    found = []
    for line in host.succeed("ss -Htlnp").splitlines():
        fields = line.split()
        address, port = fields[3].rsplit(":", 1)
        process = re.search(r'users:\(\("([^"]+)"', line)
        found.append((process.group(1) if process else "?", address, int(port)))
    return found


def test_each_role_listens_where_it_should_and_nowhere_else(target):
    """Listeners of the provisioner's engine (docker's embedded resolver) are
    the lab's, not the setup's, and are left out; sshd is allowed where the
    hosts are reached by ssh."""
    unexpected = {}
    nodes = registered_nodes(target)
    for host in target.cluster_hosts:
        plane = bool(set(host.roles) & CONTROL_PLANE_ROLES)
        allowed = (LISTENERS["kube-proxy"] | (LISTENERS["control plane"] | ETCD if plane else set())
                   | (LISTENERS["kubelet"] if host.name in nodes else set())
                   | (LISTENERS["datastore"] if target.provided("datastore")
                      and host is target.datastore.host else set())
                   | (LISTENERS["webgateway"] if target.provided("webgateway")
                      and host is target.webgateway.host else set())
                   | (LISTENERS["kubeadm"] if target.has("kubeadm") else set())
                   | (LISTENERS["kube-router"] if target.has("bgp") and host.name in nodes else set())
                   | ({("sshd", "any", 22)} if target.has("ssh") else set()))
        node_addresses = {str(a) for fams in host.spec.addresses.values() for a in fams.values()}
        listeners = [entry for entry in _listeners(host)
                     if entry[1].strip("[]") not in host.engine_addresses]
        for process, address, port in listeners:
            where = ("loopback" if address in ("127.0.0.1", "[::1]") else
                     "any" if address in ("*", "0.0.0.0", "[::]") else
                     "node" if address.strip("[]") in node_addresses else address)
            if not ({(process, where, port), (process, where, None)} & allowed
                    or (where == "node" and (process, "any", port) in allowed)):
                unexpected.setdefault(host.name, []).append(f"{process} on {address}:{port}")
        if plane:
            assert any(p == "kube-apiserver" and port == 6443 for p, _, port in listeners), listeners
    assert not unexpected, f"listening where nothing should: {unexpected}"


def test_anonymous_requests_are_denied(target):
    """From another host, without credentials: RBAC must refuse."""
    server = target.kubernetes.server
    client = next(h for h in target.cluster_hosts if h not in control_planes(target))
    code = client.succeed(shlex.join(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                      f"{server}/api/v1/namespaces"]))
    assert code in ("401", "403"), f"anonymous GET of namespaces answered {code}"


def with_only(config: dict, *keys: str) -> str:
    """The kubeconfig with its user's credentials cut down to `keys`."""
    config = json.loads(json.dumps(config))
    user = config["users"][0]["user"]
    config["users"][0]["user"] = {k: user[k] for k in keys}
    return yaml.safe_dump(config)


@pytest.mark.requires("make-kubeconfig")
def test_make_kubeconfig_works_from_another_host_for_365_days(target):
    """The kubeconfig `kubernetes-make-kubeconfig` prints, used from another
    host: its client certificate alone and its service-account token alone
    each get in as a cluster admin, as different identities."""
    master = target.kubernetes.admin_host
    config = yaml.safe_load(master.succeed("kubernetes-make-kubeconfig"))
    other = next(h for h in target.cluster_hosts if h not in control_planes(target))
    user = config["users"][0]["user"]
    assert user.get("token"), "the kubeconfig carries no service-account token"
    identities = {}
    try:
        for name, keys in (("certificate", ("client-certificate-data", "client-key-data")),
                           ("token", ("token",))):
            other.put_file("/root/user.kubeconfig", with_only(config, *keys), mode=0o600)
            kc = "kubectl --kubeconfig /root/user.kubeconfig "
            nodes = other.run(kc + "get nodes -o name")
            assert nodes.ok, f"the kubeconfig's {name} alone, from {other.name}: {nodes.summary()}"
            assert all(f"node/{h.name}" in nodes.stdout.split() for h in target.workers), f"{name}: {nodes.stdout}"
            # cluster-admin: it may do what only an admin may
            admin = other.run(kc + "auth can-i '*' '*' --all-namespaces")
            assert admin.ok, f"the kubeconfig's {name} alone is no cluster admin: {admin.summary()}"
            identities[name] = other.succeed(kc + "auth whoami -o jsonpath={.status.userInfo.username}")
    finally:
        other.succeed("rm -f /root/user.kubeconfig")
    assert identities["token"].startswith("system:serviceaccount:kube-system:"), identities
    assert not identities["certificate"].startswith("system:serviceaccount:"), identities
    pem = base64.b64decode(user["client-certificate-data"])
    end = master.run("openssl x509 -noout -enddate", input=pem).stdout.strip()
    expires = datetime.datetime.strptime(end.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    days = (expires - datetime.datetime.utcnow()).total_seconds() / 86400
    assert CERT_DAYS - 1 < days <= CERT_DAYS, f"client certificate valid {days:.1f} days"


def test_loadbalancer_service_stays_pending(target):
    """Seed 000: "You can still use the LoadBalancer service type but the
    service will show up as 'Pending' forever"."""
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "health-lb", "namespace": target.namespace},
               "spec": {"type": "LoadBalancer", "selector": {"app": "health-lb"},
                        "ports": [{"port": 80}]}}
    kubectl(target, "apply", "-f", "-", input=json.dumps(service))
    try:
        # the controller-manager has handled the Service once its EndpointSlice exists
        wait_until(lambda: kubectl(target, "get", "endpointslices", "-n", target.namespace, "-l",
                                   "kubernetes.io/service-name=health-lb", "-o", "name").strip(),
                   "the EndpointSlice of Service health-lb", 30)
        status = json.loads(kubectl(target, "get", "service", "health-lb", "-n", target.namespace,
                                   "-o", "json"))["status"]
        assert not status.get("loadBalancer", {}).get("ingress"), status
        assert "<pending>" in kubectl(target, "get", "service", "health-lb", "-n", target.namespace)
    finally:
        kubectl(target, "delete", "service", "health-lb", "-n", target.namespace, "--wait=false")
