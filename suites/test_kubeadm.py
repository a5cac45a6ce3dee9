"""Seed 004's kubeadm procedures, each checked by what the document says
happens, observed on the hosts and through kubectl as an admin runs it:

- "kubeadm token create --print-join-command" and the joins it makes;
- re-joining a control plane whose etcd member is still listed fails at
  check-etcd; removing the member with etcdctl in an etcd pod fixes it;
- "/etc/kubernetes/admin.conf" copied from a master administers the cluster;
- "kubectl drain --delete-emptydir-data --ignore-daemonsets", "kubectl uncordon";
- "kubectl delete pod <PODNAME> --grace-period=0 --force" for a pod hanging
  in Terminating.
"""
from __future__ import annotations

import json
import re
import shlex

import pytest

from harness.lab.wait import wait_until

pytestmark = pytest.mark.requires("kubeadm")

#: the seed's etcdctl flags, run in the etcd pod
ETCDCTL = ["etcdctl", "--endpoints", "[::1]:2379", "--cacert", "/etc/kubernetes/pki/etcd/ca.crt",
           "--cert", "/etc/kubernetes/pki/etcd/server.crt", "--key", "/etc/kubernetes/pki/etcd/server.key"]
HOLD = "registry.k8s.io/pause:3.10.1"
#: how long a join may sit in check-etcd before the test calls it hung
CHECK_ETCD_HANG_S = 30


@pytest.fixture(scope="module")
def cluster(target):
    return target.kubernetes


def kubectl_json(cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl(*args, "-o", "json"))


def node_ready(cluster, name: str) -> bool:
    node = kubectl_json(cluster, "get", "node", name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def ca_public_key_hash(host) -> str:
    """What --discovery-token-ca-cert-hash pins: sha256 of the CA's public key (DER)."""
    out = host.succeed("openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt"
                       " | openssl pkey -pubin -outform der | sha256sum")
    return "sha256:" + out.split()[0]


def test_printed_join_command_pins_the_cluster_ca_at_the_endpoint(target, cluster):
    """The command printed on any control plane names the load balancer and
    the hash of the CA every joined node now trusts; its token is one
    kubeadm lists; each worker's kubelet got its client certificate through
    that join (TLS bootstrap), as system:node:<name>."""
    second = cluster.control_planes[1].host
    printed = cluster.print_join_command(second)
    assert printed.endpoint == target.api_endpoint
    for host in target.workers:
        assert ca_public_key_hash(host) == printed.ca_cert_hash, host.name
        subject = host.succeed("openssl x509 -noout -subject -nameopt RFC2253 "
                               "-in /var/lib/kubelet/pki/kubelet-client-current.pem")
        assert f"CN=system:node:{host.name}" in subject and "O=system:nodes" in subject, subject
    listed = second.succeed("kubeadm token list -o json")
    assert printed.token.split(".")[0] in listed
    nodes = kubectl_json(cluster, "get", "nodes")["items"]
    planes = {n["metadata"]["name"] for n in nodes
              if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]}
    assert planes == {p.host.name for p in cluster.control_planes}


def test_admin_conf_copied_from_a_master_administers_the_cluster(target, cluster, tmp_path):
    """Seed 004: "you can copy the admin.conf to your local machine": copied
    from the second control plane to the router, the cluster answers it
    through the control-plane endpoint."""
    conf = cluster.control_planes[1].host.get_file("/etc/kubernetes/admin.conf")
    router = next(h for h in target.hosts if "router" in h.roles)
    router.put_file("/root/c1-admin.conf", conf, mode=0o600)
    out = router.succeed(shlex.join(["env", "KUBECONFIG=/root/c1-admin.conf", cluster.kubectl_binary,
                                     "get", "nodes", "-o", "json"]))
    assert sorted(n["metadata"]["name"] for n in json.loads(out)["items"]) == sorted(
        h.name for h in target.kubelets)
    assert f"server: https://{target.api_endpoint}" in conf.decode()


@pytest.mark.destructive
def test_drain_evicts_and_cordons_uncordon_takes_pods_again(target, cluster):
    """A Deployment pinned to the last worker, with an emptyDir: drain
    without --delete-emptydir-data refuses; the seed's drain evicts it and
    leaves the node unschedulable (its replacement stays Pending) while the
    DaemonSets keep running there; uncordon lets the replacement run there."""
    node = target.workers[-1].name
    name = "drain-probe"
    cluster.apply([{
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "hold", "image": HOLD, "imagePullPolicy": "Never",
                                     "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
                     "volumes": [{"name": "scratch", "emptyDir": {}}]}}}}])

    def pods() -> list[dict]:
        return kubectl_json(cluster, "get", "pods", "-l", f"app={name}")["items"]
    try:
        cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=100)
        [before] = pods()
        refused = cluster.admin_host.run(shlex.join(["kubectl", "drain", "--ignore-daemonsets",
                                                     "--timeout=30s", node]), timeout=60)
        assert not refused.ok and "local storage" in refused.stderr, refused.summary()
        cluster.kubectl("drain", "--delete-emptydir-data", "--ignore-daemonsets", "--timeout=60s", node,
                        timeout=90)
        assert kubectl_json(cluster, "get", "node", node)["spec"].get("unschedulable") is True
        wait_until(lambda: [p["metadata"]["uid"] for p in pods()] not in ([], [before["metadata"]["uid"]]),
                   "the evicted pod's replacement", timeout=30)
        [pending] = pods()
        assert pending["status"]["phase"] == "Pending" and not pending["spec"].get("nodeName"), pending["status"]
        on_node = kubectl_json(cluster, "get", "pods", "-n", "kube-system",
                               "--field-selector", f"spec.nodeName={node}")["items"]
        assert {p["metadata"]["labels"].get("k8s-app") for p in on_node} >= {"kube-proxy", "kube-router"}
        cluster.kubectl("uncordon", node)
        cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=100)
        [after] = pods()
        assert after["spec"]["nodeName"] == node and after["status"]["phase"] == "Running"
    finally:
        cluster.kubectl("uncordon", node)
        cluster.kubectl("delete", "deployment", name, "--ignore-not-found")


@pytest.mark.destructive
def test_pod_hanging_in_terminating_goes_with_grace_period_0_force(target, cluster):
    """A pod whose node's kubelet is gone hangs in Terminating: nothing
    confirms its end. The seed's force delete removes it from the API at
    once; the kubelet, back, stops its containers."""
    host = target.workers[0]
    name = "terminating-probe"
    cluster.apply([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                    "spec": {"nodeName": host.name, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "hold", "image": HOLD, "imagePullPolicy": "Never"}]}}])
    try:
        cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=90s", timeout=100)
        host.service("kubelet").stop()
        cluster.kubectl("delete", "pod", name, "--wait=false")
        # well past its grace period it is still there, Terminating
        with pytest.raises(Exception, match="timed out"):
            cluster.kubectl("wait", "--for=delete", f"pod/{name}", "--timeout=8s", timeout=20)
        assert kubectl_json(cluster, "get", "pod", name)["metadata"].get("deletionTimestamp")
        cluster.kubectl("delete", "pod", name, "--grace-period=0", "--force", "--namespace", "default")
        gone = cluster.admin_host.run(shlex.join(["kubectl", "get", "pod", name]))
        assert not gone.ok and "NotFound" in gone.stderr, gone.summary()
    finally:
        host.service("kubelet").start()
    wait_until(lambda: node_ready(cluster, host.name), f"{host.name} Ready again", timeout=90)
    wait_until(lambda: name not in running_pods(host),
               f"{host.name}'s kubelet to stop the force-deleted pod's containers", timeout=90)


def running_pods(host) -> str:
    """The pod names of the containers running on `host` (its containerd's
    tasks; the kubelet removes stopped ones later, at its container GC)."""
    return host.succeed(
        "ctr -a /run/containerd/containerd.sock -n k8s.io tasks ls | awk '$3 == \"RUNNING\" {print $1}' "
        "| xargs -r -n1 ctr -a /run/containerd/containerd.sock -n k8s.io containers info "
        "| grep -o '\"io.kubernetes.pod.name\": \"[^\"]*\"' || true")


def etcd_pod_on(cluster, host: str) -> str:
    pods = kubectl_json(cluster, "get", "pods", "-n", "kube-system", "-l", "component=etcd,tier=control-plane")
    return next(p["metadata"]["name"] for p in pods["items"] if p["spec"]["nodeName"] == host)


@pytest.mark.destructive
@pytest.mark.requires("etcd-quorum")
def test_control_plane_rejoin_fails_at_check_etcd_until_its_member_is_removed(target, cluster):
    """Seed 004, a control plane wiped and re-joined: while its old etcd
    member is listed, `kubeadm join … --control-plane --certificate-key`
    hangs or fails at check-etcd; after `etcdctl member remove` in another etcd pod
    (kubectl exec, the seed's flags) the same join succeeds and the member
    is back and healthy."""
    first, plane = cluster.control_planes[0], cluster.control_planes[-1]
    host = plane.host
    etcd = target.etcd
    # the host wiped: the node's files, containers and etcd data gone, its member
    # still listed (kubeadm reset's remove-etcd-member phase would remove both)
    host.service("kubelet").stop()
    cluster.reset(host, skip=("remove-etcd-member",))
    etcd.wipe(host.name)
    cluster.kubectl("delete", "node", host.name)
    host.service("kubelet").start()
    stale = [m for m in etcd.member_list(via=first.host.name) if m["name"] == host.name]
    assert stale, "the wiped control plane's etcd member is not listed: nothing to reproduce"
    join = cluster.print_join_command(first.host)
    key = cluster.upload_certs(first.host)
    # kubeadm retries the check for its etcd API timeout (2 min): failing there,
    # or still there after CHECK_ETCD_HANG_S (a healthy check takes a second)
    with pytest.raises(cluster.KubeadmError, match=r"check-etcd.*(context deadline exceeded|not healthy)"
                       r"|still at '\[check-etcd\] Checking that the etcd cluster is healthy'"):
        cluster.join_control_plane(host, join, key, plane.address, ("preflight",),
                                   give_up_after=CHECK_ETCD_HANG_S)

    pod = etcd_pod_on(cluster, first.host.name)
    members = cluster.kubectl("exec", "-n", "kube-system", pod, "--", *ETCDCTL, "member", "list")
    line = next(row for row in members.splitlines() if f"[{plane.address}]:2380" in row)
    member_id = line.split(",")[0].strip()
    removed = cluster.kubectl("exec", "-n", "kube-system", pod, "--", *ETCDCTL, "member", "remove", member_id)
    # etcdctl prints the ID padded to 16 columns (%16x): an ID with a leading
    # zero digit has a space before it
    assert re.search(rf"Member\s+{member_id} removed from cluster", removed), removed

    cluster.join_control_plane(host, join, key, plane.address, ("preflight",))
    wait_until(lambda: node_ready(cluster, host.name), f"{host.name} Ready after the rejoin", timeout=120)
    etcd.wait_healthy(60)
    assert sorted(m["name"] for m in etcd.member_list()) == sorted(p.host.name for p in cluster.control_planes)
