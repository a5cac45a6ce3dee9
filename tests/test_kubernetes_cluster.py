"""A real seed-000 cluster made by the harness, checked the way the issue
says a person checks it, and removed without a trace: every process,
container (they live in the hosts' cgroups, in none of their namespaces),
mount, cgroup and namespace."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from harness import setups
from harness import results
from harness.artifacts import spec
from harness.results import diagnostics
from harness.setups.parts.kubernetes import kubelet
from harness.model import topology
from provisioners import host_cgroups
from tests.conftest import assert_no_trace, lab_footprint, pids_alive, refused, tunnel_threads

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(sys.executable).parent / "harness"
TOPOLOGY = ROOT / "fixtures" / "topologies" / "fcio-k8s.yaml"


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HARNESS), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def test_up_apply_nodes_ready_dns_answers_down_leaves_nothing(netns, tmp_path):
    up = harness("up", str(TOPOLOGY), "--apply")
    assert up.returncode == 0, up.stderr[-3000:]
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    footprint = lab_footprint(netns, lab_id)
    try:
        nodes = harness("exec", lab_id, "master", "--", "kubectl", "get", "nodes", "-o", "wide")
        assert nodes.returncode == 0, nodes.stderr
        rows = {line.split()[0]: line.split() for line in nodes.stdout.splitlines()[1:]}
        for name in ("node1", "node2", "node3"):
            assert rows[name][1] == "Ready" and rows[name][4].startswith("v1.34."), nodes.stdout
        dig = harness("exec", lab_id, "frontend", "--", "dig", "+short",
                      "kubernetes.default.svc.cluster.local")
        assert dig.stdout.split() == ["10.0.0.1"], dig.stdout + dig.stderr
        for key, minimum in kubelet.INOTIFY_LIMITS.items():  # the kernel's 128 lasts two clusters
            assert int(Path("/proc/sys", *key.split(".")).read_text()) >= minimum, key
        containers = host_cgroups.pids_in([d / "kubepods" for d in host_cgroups.lab_dirs(lab_id)])
        assert containers, "CoreDNS runs in containers under the nodes' kubepods cgroups"
        # a red run's bundle shows the cluster as the master sees it and each
        # node's containers, beside the components' logs
        diagnostics.collect(netns.attach(lab_id), tmp_path)
        assert re.search(r"^node2\s+Ready\s", (tmp_path / "master" / "kubernetes-nodes.txt").read_text(), re.M)
        assert "coredns" in (tmp_path / "master" / "kubernetes-pods.txt").read_text()
        coredns_node = next(h for h in ("node1", "node2", "node3")
                            if "coredns" in (tmp_path / h / "containerd-containers.txt").read_text())
        assert "RUNNING" in (tmp_path / coredns_node / "containerd-containers.txt").read_text()
        assert "kubelet.log" in (tmp_path / "node1" / "logs.txt").read_text()
        kubeconfigs = (tmp_path / "node1" / "kubeconfigs.txt").read_text()
        # a node's kubeconfigs name their key files; the master's carry keys, redacted
        assert "==> /etc/kubernetes/kubelet.kubeconfig <==" in kubeconfigs
        assert "client-key: /etc/kubernetes/pki/kubelet-client-node1-key.pem" in kubeconfigs
        admin = (tmp_path / "master" / "kubeconfigs.txt").read_text()
        assert "==> /etc/kubernetes/cluster-admin.kubeconfig <==" in admin
        assert "client-key-data: <redacted>" in admin
        assert "PRIVATE KEY" not in kubeconfigs + admin
        # results record the versions of what runs, as each component reports it
        versions = results.component_versions(netns.attach(lab_id))
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                          "kube-proxy"):
            assert versions[component] == f"Kubernetes {spec.binary_version('kubelet')}", versions
        assert "3.6.4" in versions["etcd"] and "0.28.10" in versions["flanneld"], versions
        assert versions["containerd"].startswith("containerd "), versions
    finally:
        down = harness("down", lab_id)
    assert down.returncode == 0, down.stderr
    assert_no_trace(netns, lab_id, footprint["inodes"])
    assert pids_alive(sorted(containers)) == [], "containers outlived the lab"


def kubectl_nodes(lab_id: str, host: str) -> dict[str, list[str]]:
    nodes = harness("exec", lab_id, host, "--", "kubectl", "get", "nodes", "-o", "wide")
    assert nodes.returncode == 0, nodes.stderr
    return {line.split()[0]: line.split() for line in nodes.stdout.splitlines()[1:]}


def nixos_checks(lab_id: str) -> None:
    """seed 002: the node's certificates, issued by easyCerts' CA daemon."""
    listed = harness("exec", lab_id, "node1", "--", "ls", "/var/lib/kubernetes/secrets/")
    assert {"ca.pem", "kubelet-client-node1.pem", "kubelet-node1.pem", "kube-proxy.pem",
            "flannel.pem", "apitoken.secret"} <= set(listed.stdout.split()), listed.stdout


def centos_checks(lab_id: str) -> None:
    """seed 003: flannel's config in etcd, written with etcdctl, and one
    lease per worker under /atomic.io/network/subnets/ (today's etcdctl: v3)."""
    config = harness("exec", lab_id, "master", "--", "etcdctl", "get", "--print-value-only",
                     "/atomic.io/network/config")
    assert json.loads(config.stdout) == {"Network": "10.241.0.0/16", "SubnetLen": 24,
                                         "Backend": {"Type": "vxlan", "VNI": 1}}, config.stderr
    keys = harness("exec", lab_id, "master", "--", "etcdctl", "get", "--prefix", "--keys-only",
                   "/atomic.io/network/subnets/")
    leases = keys.stdout.split()
    assert len(leases) == 2 and all(re.fullmatch(r"/atomic\.io/network/subnets/10\.241\.\d+\.0-24", k)
                                    for k in leases), keys.stdout


@pytest.mark.parametrize("setup, workers, no_kubelet, checks", [
    ("nixos", ["node1", "node2"], ["master"], nixos_checks),
    ("centos-hardway", ["worker1", "worker2"], ["master"], centos_checks),
])
def test_seed_002_and_003_up_apply_ready_down_leaves_nothing(netns, setup, workers, no_kubelet, checks):
    up = harness("up", str(ROOT / "fixtures" / "topologies" / f"{setup}.yaml"), "--apply")
    assert up.returncode == 0, up.stderr[-3000:]
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    footprint = lab_footprint(netns, lab_id)
    try:
        rows = kubectl_nodes(lab_id, "master")
        assert sorted(rows) == sorted(workers), rows
        for name in workers:
            assert rows[name][1] == "Ready" and rows[name][4] == spec.binary_version("kubelet"), rows
        for name in no_kubelet:  # seed 002's and 003's master run no kubelet
            kubelet_port = harness("exec", lab_id, name, "--", "ss", "-Htln", "sport = :10250")
            assert kubelet_port.returncode == 0 and kubelet_port.stdout == "", kubelet_port.stdout
        checks(lab_id)
        containers = host_cgroups.pids_in([d / "kubepods" for d in host_cgroups.lab_dirs(lab_id)])
        assert containers, "CoreDNS runs in containers under the workers' kubepods cgroups"
    finally:
        down = harness("down", lab_id)
    assert down.returncode == 0, down.stderr
    assert_no_trace(netns, lab_id, footprint["inodes"])
    assert pids_alive(sorted(containers)) == [], "containers outlived the lab"


@pytest.mark.parametrize("setup, ending", [("fcio-k8s", "ctrl-c"), ("k3s", "kill-9-then-gc"),
                                           ("kubeadm-ha", "kill-9-then-gc")])
def test_a_real_cluster_ends_without_a_trace(netns, lab_holder, setup, ending):
    """The harness holding a real cluster is interrupted (its lab goes with
    it) or killed (gc removes the lab): no process (PostgreSQL and kine on
    k3s, kubeadm's static pods and the router's HAProxy and BIRD included),
    container, cgroup, mount or namespace is left either way."""
    holder, lab_id = lab_holder(ROOT / "fixtures" / "topologies" / f"{setup}.yaml", "--apply")
    footprint = lab_footprint(netns, lab_id)
    containers = host_cgroups.pids_in([d / "kubepods" for d in host_cgroups.lab_dirs(lab_id)])
    assert containers, "the cluster runs no container"
    if ending == "ctrl-c":
        holder.send_signal(signal.SIGINT)
        holder.wait(timeout=60)
    else:
        holder.kill()
        holder.wait()
        assert any(r.id == lab_id and r.orphaned for r in netns.list())
        report = netns.gc()
        assert lab_id in report.removed and not report.stuck, report
    assert_no_trace(netns, lab_id, footprint["inodes"])
    assert pids_alive(sorted(containers)) == [], "containers outlived the lab"


def test_the_api_is_reached_through_the_tunnel_while_the_lab_is_up(netns):
    """The target's API client reaches the apiserver, which listens only in
    the lab, through a loopback tunnel; a scale through the API shows in the
    EndpointSlices; with the lab, tunnel, client and credentials go."""
    lab = netns.create(topology.load(TOPOLOGY))
    try:
        target = setups.apply(lab)
        api = target.kubernetes.api
        host, port = api.configuration.host.removeprefix("https://").rsplit(":", 1)
        assert host == "127.0.0.1" and api.configuration.verify_ssl
        assert client.VersionApi(api).get_code().git_version.startswith("v1.34.")
        workload = target.workload("through-the-api")
        workload.scale(3)
        assert client.AppsV1Api(api).read_namespaced_deployment_scale(
            "through-the-api", "default").spec.replicas == 3
        slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=through-the-api").items
        in_slices = sorted(a for s in slices for e in s.endpoints or () for a in e.addresses)
        assert in_slices == sorted(ip for pod in workload.pods for ip in pod.ips)
        assert len(in_slices) == 3
        workload.scale(1)
        assert len(workload.pod_ips()) == 1
        credentials = [api.configuration.cert_file, api.configuration.key_file]
        # in memory only: nothing on disk that a kill -9 would leave behind
        assert [os.readlink(path).split()[0] for path in credentials] == [
            f"/memfd:harness-{lab.id}-cluster-admin.pem", f"/memfd:harness-{lab.id}-cluster-admin-key.pem"]
        assert tunnel_threads(lab.id)
    finally:
        lab.destroy()
    assert tunnel_threads(lab.id) == []
    assert refused(int(port))
    assert not any(os.path.exists(p) and os.readlink(p).startswith(f"/memfd:harness-{lab.id}")
                   for p in credentials), "the client's credentials outlived the lab"


def test_a_real_cluster_on_docker_hosts_and_down_leaves_nothing():
    """The same cluster on the docker provisioner: every node Ready; after
    `harness down` no container, network, volume (containerd's anonymous ones
    included), cgroup or process of it is left."""
    from provisioners.docker import LABEL, DockerProvisioner
    docker = DockerProvisioner()
    if not docker.available():
        pytest.fail("no docker engine answers: run .ci/start-daemons docker")
    up = harness("up", str(TOPOLOGY), "--apply", "--provisioner", "docker")
    assert up.returncode == 0, up.stderr[-3000:]
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    selector = {"label": f"{LABEL}={lab_id}"}
    try:
        found = docker.client.containers.list(filters=selector)
        volumes = {m["Name"] for c in found for m in c.attrs["Mounts"] if m["Type"] == "volume"}
        assert len(volumes) == len(found), f"one containerd volume per host: {volumes}"
        cgroups = [Path("/sys/fs/cgroup/memory", c.attrs["HostConfig"].get("CgroupParent") or "docker",
                        c.id) for c in found]
        assert all(d.is_dir() for d in cgroups), cgroups
        nodes = harness("exec", lab_id, "master", "--", "kubectl", "get", "nodes", "-o", "wide")
        rows = {line.split()[0]: line.split() for line in nodes.stdout.splitlines()[1:]}
        for name in ("node1", "node2", "node3"):
            assert rows[name][1] == "Ready" and rows[name][4].startswith("v1.34."), nodes.stdout
        pods = [p for d in cgroups for p in (d / "kubepods").rglob("cgroup.procs")]
        containers = {int(pid) for p in pods for pid in p.read_text().split()}
        assert containers, "CoreDNS runs in containers under the hosts' kubepods cgroups"
    finally:
        down = harness("down", lab_id)
    assert down.returncode == 0, down.stderr
    assert not docker.client.containers.list(all=True, filters=selector)
    assert not docker.client.networks.list(filters=selector)
    assert not {v.name for v in docker.client.volumes.list()} & volumes, "volumes left"
    assert not [d for d in cgroups if d.exists()], "cgroups left"
    assert pids_alive(sorted(containers)) == [], "containers outlived the lab"
