"""The suites against a cluster the harness did not make: a real lab cluster
used as a customer's would be. Its kubeconfig comes from
`kubernetes-make-kubeconfig` (`harness export`); the attached run happens on
the lab's frontend, inside the lab's network, as on a customer's
workstation (the lab's addresses are not reachable from this machine). No
mock apiserver: every error below is a real apiserver's or a real socket's."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness.lab.host import CommandResult, Host, MissingCapability
from harness.lab.wait import wait_until
from harness.model.topology import HostSpec

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOPOLOGY = ROOT / "fixtures" / "topologies" / "fcio-k8s.yaml"
#: tests of test_health.py that need nothing but the API
API_TESTS = {"test_every_node_is_ready_at_the_pinned_version",
             "test_apiserver_health_endpoints[livez]", "test_apiserver_health_endpoints[readyz]",
             "test_loadbalancer_service_stays_pending"}
RUN_NAMESPACES = ["get", "namespaces", "-l", "app.kubernetes.io/managed-by=harness", "-o", "name"]


def harness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "harness"), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


@pytest.fixture(scope="module")
def shared_dir():
    """A directory the lab's hosts see too (their /tmp is their own)."""
    path = Path(tempfile.mkdtemp(prefix="harness-attached-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(shared_dir):
    """A real seed-000 lab with sshd on its hosts, its cluster-admin kubeconfig
    and an ssh inventory of it beside: (lab id, kubeconfig)."""
    # the workloads of an attached run are the upstream agnhost, which a
    # customer's nodes pull: the lab's nodes are given it (no registry here)
    up = harness("up", str(TOPOLOGY), "--apply", "--e2e-images", "--ssh")
    assert up.returncode == 0, up.stderr[-3000:]
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    try:
        kubeconfig = shared_dir / "kubeconfig"
        exported = harness("export", lab_id, "--kubeconfig", str(kubeconfig),
                           "--inventory", str(shared_dir / "inventory.yaml"))
        assert exported.returncode == 0, exported.stderr
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        assert (shared_dir / "inventory.key").stat().st_mode & 0o777 == 0o600
        yield lab_id, kubeconfig
    finally:
        down = harness("down", lab_id)
        assert down.returncode == 0, down.stderr


def on_frontend(lab_id: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return harness("exec", lab_id, "frontend", "--", *argv, timeout=timeout)


def kubectl_on_master(lab_id: str, *args: str) -> str:
    result = harness("exec", lab_id, "master", "--", "kubectl", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pytest_argv(*args: str) -> list[str]:
    return [str(BIN / "pytest"), "-p", "no:cacheprovider", "-q", "-rs", *args]


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """test name -> (passed | skipped | failed | error, message)."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        result = next((c for c in case if c.tag in ("skipped", "failure", "error")), None)
        kind = {None: "passed", "failure": "failed"}.get(None if result is None else result.tag,
                                                         None if result is None else result.tag)
        found[case.get("name")] = (kind, "" if result is None else result.get("message", ""))
    return found


def test_kubeconfig_only_passes_the_api_tests_and_skips_host_tests_naming_the_capability(
        cluster, shared_dir):
    lab_id, kubeconfig = cluster
    namespaces_before = kubectl_on_master(lab_id, "get", "namespaces", "-o", "name")
    junit = shared_dir / "kubeconfig-only.xml"
    run = on_frontend(lab_id, *pytest_argv(str(ROOT / "suites" / "test_health.py"),
                                           str(ROOT / "suites" / "test_services.py"),
                                           "--kubeconfig", str(kubeconfig), f"--junitxml={junit}"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = outcomes(junit)
    assert {name for name, (kind, _) in found.items() if kind == "passed"} == API_TESTS, found
    skipped = {name: message for name, (kind, message) in found.items() if kind == "skipped"}
    assert set(found) == API_TESTS | set(skipped), found
    for name, message in skipped.items():
        # each skip names what the cluster lacks: its hosts (no ssh inventory), or a
        # capability only a setup's parts or an inventory would give
        assert re.search(r"lacks capability: .*\b(hosts|service-proxy|make-kubeconfig)\b", message), \
            f"{name}: {message}"
    assert any("capability: hosts (no ssh inventory (--inventory)" in m for m in skipped.values()), \
        skipped
    # nothing stays on the cluster: the run's namespace is gone, no other was made
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    assert kubectl_on_master(lab_id, "get", "namespaces", "-o", "name") == namespaces_before
    assert "health-lb" not in kubectl_on_master(lab_id, "get", "services", "-A")


#: the processes of the host's own network namespace (lab hosts share the
#: machine's pid namespace: `ps` would show every lab's processes)
OWN_PROCESSES = ('me=$(readlink /proc/self/ns/net); for p in /proc/[0-9]*; do '
                 '[ "$(readlink $p/ns/net 2>/dev/null)" = "$me" ] && tr "\\0" " " <$p/cmdline && echo; '
                 'done; true')


def run_leftovers(lab_id: str) -> str:
    """What an attached run left on the lab's hosts: its directories in each
    host's /tmp, its processes (an HAProxy, a socat, a tcpdump of its own)."""
    found = []
    for host in ("master", "node1", "node2", "node3", "frontend", "client"):
        listed = harness("exec", lab_id, host, "--", "sh", "-c",
                         f"ls -d /tmp/harness-attached-* 2>/dev/null; {OWN_PROCESSES}")
        found += [f"{host}: {line}" for line in listed.stdout.splitlines() if line.startswith(
            ("/tmp/harness-attached-", "haproxy -db -f /tmp/", "socat TCP6-LISTEN:7070", "tcpdump "))]
    return "\n".join(found)


def test_with_an_inventory_host_checks_pass_services_of_the_run_included(cluster, shared_dir):
    """The same health and lab checks as on the lab, through ssh from the
    frontend; a service of the test's own (socat) runs tied to the run's ssh
    session, on every host, and is gone with the run."""
    lab_id, kubeconfig = cluster
    junit = shared_dir / "inventory.xml"
    run = on_frontend(lab_id, *pytest_argv(str(ROOT / "suites" / "test_health.py"),
                                           str(ROOT / "suites" / "test_lab.py"),
                                           "--kubeconfig", str(kubeconfig),
                                           "--inventory", str(shared_dir / "inventory.yaml"),
                                           f"--junitxml={junit}"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = outcomes(junit)
    not_passed = {name: outcome for name, outcome in found.items() if outcome[0] != "passed"}
    # the client is on the public FE network only, which no Node shares
    assert list(not_passed) == ["test_service_reachable_from_other_hosts[client]"], not_passed
    assert "client shares no network with another host" in not_passed[
        "test_service_reachable_from_other_hosts[client]"][1], not_passed
    reachable = [name for name in found if name.startswith("test_service_reachable_from_other")]
    assert len(reachable) == 6, found  # master, node1-3, frontend, client
    health = [name for name in found if name.startswith(("test_kubectl_cluster_info",
                                                          "test_each_role_listens",
                                                          "test_make_kubeconfig"))]
    assert len(health) == 3, found   # the host checks ran over ssh, and passed
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    assert run_leftovers(lab_id) == ""


#: an inventory host's commands, run on the frontend: five of them, then the
#: number of ssh connections node1's sshd holds, then the host closed
SHARED_CONNECTION = """
from harness.model.topology import HostSpec
from harness.setups import inventory
found = inventory.load({inventory!r})
host = inventory.SshHost(HostSpec("node1", found.roles["node1"], {{}}), "shared", found.ssh["node1"])
assert all(host.exec(["true"]).rc == 0 for _ in range(5))
print(host.exec(["sh", "-c", "ss -Htn state established '( sport = :22 )' | wc -l"]).stdout.strip())
print(host.control_dir)
host.close()
"""


def test_an_inventory_host_keeps_one_ssh_connection_and_closes_it(cluster, shared_dir):
    """Six commands to node1 over one ssh connection (not a handshake each);
    closed with the host: no connection, master process or socket left."""
    lab_id, _ = cluster
    run = on_frontend(lab_id, str(BIN / "python"), "-c",
                      SHARED_CONNECTION.format(inventory=str(shared_dir / "inventory.yaml")))
    assert run.returncode == 0, run.stdout + run.stderr
    connections, control_dir = run.stdout.split()
    assert connections == "1", run.stdout
    # the master's exit closes the connection; node1's sshd sees it a moment later
    wait_until(lambda: harness("exec", lab_id, "node1", "--", "sh", "-c",
                               "ss -Htn state established '( sport = :22 )' | wc -l").stdout.strip() == "0",
               "node1's sshd to hold no connection", timeout=10)
    assert harness("exec", lab_id, "frontend", "--", "test", "-e", control_dir).returncode == 1
    processes = harness("exec", lab_id, "frontend", "--", "sh", "-c", OWN_PROCESSES).stdout
    assert "ControlPath=" not in processes, processes


def test_haproxy_and_vxlan_suites_run_over_the_inventory(cluster, shared_dir):
    """The HAProxy suite drives an HAProxy of the run's own on the frontend
    (the frontend's own HAProxy and its config untouched), and the vxlan
    capture streams tcpdump over ssh; nothing of the run stays on a host."""
    lab_id, kubeconfig = cluster
    # the frontend's own HAProxy: its config, and its pid as its supervisor has it
    own = "md5sum /etc/haproxy/harness.cfg; supervisorctl -c /etc/supervisor/harness.conf pid haproxy"
    before = harness("exec", lab_id, "frontend", "--", "sh", "-c", own).stdout
    junit = shared_dir / "haproxy.xml"
    run = on_frontend(lab_id, *pytest_argv(
        str(ROOT / "suites" / "test_haproxy.py"),
        str(ROOT / "suites" / "test_services.py") + "::test_frontend_service_port_forwards_through_the_service_ip",
        str(ROOT / "suites" / "test_reachability.py") + "::test_vxlan_on_the_wire",
        "--kubeconfig", str(kubeconfig), "--inventory", str(shared_dir / "inventory.yaml"),
        f"--junitxml={junit}"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = outcomes(junit)
    assert sorted(kind for kind, _ in found.values()) == ["passed"] * 6 + ["skipped"], found
    # the documented limitation shows itself on the customer's frontend too
    # (strict, raises=PortNotPickedUp: any other failure would be one)
    assert found["test_changed_pod_port_is_picked_up"][0] == "skipped" and \
        "Known limitations" in found["test_changed_pod_port_is_picked_up"][1], found
    assert found["test_vxlan_on_the_wire"][0] == "passed", found
    assert harness("exec", lab_id, "frontend", "--", "sh", "-c", own).stdout == before
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    assert run_leftovers(lab_id) == ""


def test_destructive_tests_run_only_with_allow_destructive(cluster, shared_dir):
    lab_id, kubeconfig = cluster
    mark = shared_dir / "destructive-ran"
    for flags, ran in (([], False), (["--allow-destructive"], True)):
        junit = shared_dir / "destructive.xml"
        run = on_frontend(lab_id, "env", f"DESTRUCTIVE_MARK={mark}", *pytest_argv(
            str(ROOT / "tests" / "fixtures" / "suites" / "attached_destructive.py"),
            "--kubeconfig", str(kubeconfig), *flags, f"--junitxml={junit}"))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        (kind, message), = outcomes(junit).values()
        assert mark.exists() == ran and kind == ("passed" if ran else "skipped"), (kind, message)
        if not ran:
            assert "lacks capability: destructive (an existing cluster is never broken without " \
                   "--allow-destructive)" in message, message


def test_an_ssh_host_that_refuses_is_one_line(cluster, shared_dir):
    lab_id, kubeconfig = cluster
    inventory = yaml.safe_load((shared_dir / "inventory.yaml").read_text())
    other_key = shared_dir / "other.key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    inventory["hosts"]["node2"]["key"] = str(other_key)
    (shared_dir / "refused.yaml").write_text(yaml.safe_dump(inventory))
    for argv in (pytest_argv(str(ROOT / "suites" / "test_health.py")),
                 [str(BIN / "harness"), "status"]):
        run = on_frontend(lab_id, *argv, "--kubeconfig", str(kubeconfig),
                          "--inventory", str(shared_dir / "refused.yaml"))
        assert run.returncode in (2, 4), run.stdout + run.stderr
        line = one_error_line(run, "ERROR: " if run.returncode == 4 else "harness: ")
        assert "host node2 (ssh://root@192.168.21.2) refused: " in line, line
        assert "Permission denied (publickey)" in line, line


@pytest.mark.parametrize("inventory, says", [
    ({"hosts": {"a": {"roles": ["boss"]}}}, "hosts.a.roles: a list of roles among"),
    ({"hosts": {"a": {"roles": ["node"], "adress": "x"}}}, "hosts.a.adress: unknown key"),
    ({"backend": "telnet", "hosts": {"a": {"roles": ["node"]}}}, "backend: must be one of ssh, paramiko"),
    ({"setup": "fcio-k8s"}, "hosts: required"),
    ({"setup": "fcio", "hosts": {"a": {"roles": ["node"]}}},
     "setup: no setup 'fcio' in the catalogue (known: fcio-k8s, k3s, nixos, centos-hardway, kubeadm-ha)"),
])
def test_a_bad_inventory_is_one_line_naming_the_key(tmp_path, inventory, says):
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    run = subprocess.run(pytest_argv(str(ROOT / "suites" / "test_health.py"), "--kubeconfig",
                                     str(tmp_path / "unread"), "--inventory", str(path)),
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 4
    assert f"inventory {path}: {says}" in one_error_line(run, "ERROR: ")


def pid_running(needle: str) -> int | None:
    """The pid of the pytest whose command line holds `needle` (a path only
    this test uses), if one runs."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"/pytest") for a in argv[:2]) and needle.encode() in argv:
                return int(entry.name)
    return None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_run_namespace_goes_even_after_ctrl_c(cluster, shared_dir, signum):
    """Interrupted while it holds an object, the attached run still removes
    its namespace, object and all, before it exits."""
    lab_id, kubeconfig = cluster
    ready = shared_dir / f"held-{signum.name}"
    run = subprocess.Popen(
        [str(BIN / "harness"), "exec", lab_id, "frontend", "--", "env", f"HOLD_READY={ready}",
         *pytest_argv(str(ROOT / "tests" / "fixtures" / "suites" / "attached_hold.py"),
                      "--kubeconfig", str(kubeconfig))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.2)
        namespace = ready.read_text()
        assert namespace.startswith("harness-"), namespace
        assert kubectl_on_master(lab_id, "get", "configmap", "held", "-n", namespace, "-o",
                                 "jsonpath={.data.held}") == "yes"
        pid = pid_running(str(kubeconfig))
        assert pid, "the attached pytest is not running"
        os.kill(pid, signum)
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 2, out[-2000:] + err[-2000:]   # pytest: interrupted
    assert "passed" not in out, out[-2000:]
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    gone = harness("exec", lab_id, "master", "--", "kubectl", "get", "namespace", namespace)
    assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stdout + gone.stderr


def start_holding(lab_id: str, kubeconfig: Path, ready: Path) -> subprocess.Popen:
    """An attached run on the frontend that holds an object in its namespace."""
    return subprocess.Popen(
        [str(BIN / "harness"), "exec", lab_id, "frontend", "--", "env", f"HOLD_READY={ready}",
         *pytest_argv(str(ROOT / "tests" / "fixtures" / "suites" / "attached_hold.py"),
                      "--kubeconfig", str(kubeconfig))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def held_namespace(run: subprocess.Popen, ready: Path) -> str:
    deadline = time.monotonic() + 180
    while not ready.exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    return ready.read_text()


def gc_on(lab_id: str, host: str, kubeconfig: Path) -> str:
    result = harness("exec", lab_id, host, "--", str(BIN / "harness"), "gc", "--kubeconfig",
                     str(kubeconfig))
    assert result.returncode == 0, result.stdout + result.stderr
    return " ".join(result.stdout.split())


@pytest.mark.parametrize("remover", ["gc", "next-run"])
def test_a_killed_runs_namespace_is_removed_by_gc_or_the_next_run(cluster, shared_dir, remover):
    """kill -9 leaves the run's namespace; only a run that is surely gone
    loses it: a live run's is left, and so is one seen from another machine
    (the master), which cannot tell whether the run lives."""
    lab_id, kubeconfig = cluster
    ready = shared_dir / f"killed-{remover}"
    run = start_holding(lab_id, kubeconfig, ready)
    try:
        namespace = held_namespace(run, ready)
        pid = pid_running(str(kubeconfig))
        assert pid, "the attached pytest is not running"
        said = gc_on(lab_id, "frontend", kubeconfig)
        assert f"removed 0 run namespace(s) left {namespace}: its run is alive (pid {pid} on " \
               f"frontend)" in said, said
        os.kill(pid, signal.SIGKILL)
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).split() == [f"namespace/{namespace}"]
    said = gc_on(lab_id, "master", kubeconfig)
    assert f"left {namespace}: a run of another machine (pid {pid} on frontend)" in said, said
    if remover == "gc":
        said = gc_on(lab_id, "frontend", kubeconfig)
        assert f"removed 1 run namespace(s) {namespace}: its run is gone (pid {pid} on frontend)" \
            in said, said
    else:
        again = on_frontend(lab_id, *pytest_argv(str(ROOT / "suites" / "test_health.py") +
                                                 "::test_apiserver_health_endpoints",
                                                 "--kubeconfig", str(kubeconfig)))
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    gone = harness("exec", lab_id, "master", "--", "kubectl", "get", "namespace", namespace)
    assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stdout + gone.stderr


def repro_case(shared_dir: Path, name: str, **fields) -> Path:
    case = {"name": name, "seed": "000", "cluster": {"kubeconfig": "kubeconfig",
                                                     "inventory": "inventory.yaml"}, **fields}
    path = shared_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(case))
    return path


def repro_on_frontend(lab_id: str, case: Path, results: Path, *flags: str):
    return on_frontend(lab_id, str(BIN / "harness"), "repro", str(case), "--results", str(results),
                       *flags)


def test_repro_reproduces_a_case_on_an_existing_cluster(cluster, shared_dir):
    """seed 001's known limitation, on the customer's frontend."""
    lab_id, _ = cluster
    case = repro_case(shared_dir, "port-change", select=[str(ROOT / "suites" / "test_haproxy.py")],
                      keyword="changed_pod_port", expect={
                          "shows_as": "failed", "reporter": "the frontend follows the pods",
                          "symptom": "PortNotPickedUp: the pods answer on port 8081 .*HAProxy "
                                     "still sends them to port 8080"})
    run = repro_on_frontend(lab_id, case, shared_dir / "repro")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = json.loads(next((shared_dir / "repro").glob("port-change-*/repro.json")).read_text())
    assert summary["reproduced"] and len(summary["shown"]) == 1, summary
    assert "kept" not in run.stdout   # nothing of a lab: the cluster is the customer's
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""
    assert run_leftovers(lab_id) == ""


def qdiscs(lab_id: str) -> str:
    return harness("exec", lab_id, "node1", "--", "tc", "qdisc", "show", "dev", "srv").stdout


def netem_in_this_kernel() -> bool:
    scratch = f"harness-netem-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", scratch], check=True)
    try:
        return subprocess.run(["ip", "netns", "exec", scratch, "tc", "qdisc", "add", "dev", "lo",
                               "root", "netem", "delay", "1ms"], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", scratch], check=True)


def test_repro_faults_an_existing_cluster_only_with_allow_destructive(cluster, shared_dir):
    """Without the flag: one line, nothing made, no fault. With it: the
    fault goes onto node1 over ssh and is undone after the run. This kernel
    has no sch_netem: there the kernel's refusal is what is shown."""
    lab_id, _ = cluster
    case = repro_case(shared_dir, "slow-node1", select=[
        str(ROOT / "tests" / "fixtures" / "suites" / "slow_node.py")],
        faults=[{"kind": "netem", "host": "node1", "network": "srv", "delay": "300ms"}],
        expect={"shows_as": "failed", "reporter": "node1 answers within 100 ms",
                "symptom": "node1 answers the frontend in [0-9]+ ms at best"})
    before = qdiscs(lab_id)
    refused = repro_on_frontend(lab_id, case, shared_dir / "refused")
    assert refused.returncode == 2
    assert "refused without --allow-destructive" in one_error_line(refused, "harness: ")
    assert not (shared_dir / "refused").exists() and qdiscs(lab_id) == before
    run = repro_on_frontend(lab_id, case, shared_dir / "faulted", "--allow-destructive")
    summary = json.loads(next((shared_dir / "faulted").glob("slow-node1-*/repro.json")).read_text())
    if netem_in_this_kernel():
        assert run.returncode == 0 and summary["reproduced"], run.stdout[-3000:]
    else:
        assert run.returncode == 1 and not summary["reproduced"], run.stdout[-3000:]
        assert "[node1] `tc qdisc replace dev srv root netem delay 300ms` failed (rc=2: Error: " \
               "Specified qdisc kind is unknown.)" in run.stdout, run.stdout[-3000:]
    assert qdiscs(lab_id) == before
    assert kubectl_on_master(lab_id, *RUN_NAMESPACES).strip() == ""


@pytest.mark.parametrize("change, key, says", [
    ({"faults": [{"kind": "crash", "host": "node1"}]}, "faults[0].kind",
     "a crash fault needs a lab host: an existing cluster's hosts take netem only"),
    ({"faults": [{"kind": "netem", "host": "node9", "network": "srv", "delay": "1ms"}]},
     "faults[0].host", "no host 'node9' in the cluster's inventory"),
    ({"cluster": {"kubeconfig": "kubeconfig"},
      "faults": [{"kind": "netem", "host": "node1", "network": "srv", "delay": "1ms"}]},
     "faults", "act on hosts: the cluster needs an inventory"),
    ({"cluster": {"kubeconfig": "absent"}}, "cluster.kubeconfig", "no such file"),
    ({"topology": "fcio-k8s"}, "topology", "a topology or an existing cluster (cluster), not both"),
    ({"override": {"name": "x"}}, "override", "applies to a topology"),
])
def test_a_bad_cluster_case_is_one_line_and_changes_nothing(tmp_path, change, key, says):
    (tmp_path / "kubeconfig").write_text("unread")
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(
        {"hosts": {"node1": {"roles": ["node"]}}}))
    case = repro_case(tmp_path, "bad", select=["suites/test_health.py"], expect={
        "shows_as": "failed", "reporter": "r", "symptom": "s"})
    data = yaml.safe_load(case.read_text())
    data.update(change)
    case.write_text(yaml.safe_dump(data))
    run = harness("repro", str(case), "--results", str(tmp_path / "out"), "--allow-destructive")
    assert run.returncode == 2
    assert f"{case}: {key}: {says}" in one_error_line(run, "harness: ")
    assert not (tmp_path / "out").exists()


def test_status_summarises_nodes_versions_and_capabilities(cluster):
    lab_id, kubeconfig = cluster
    status = on_frontend(lab_id, str(BIN / "harness"), "status", "--kubeconfig", str(kubeconfig))
    assert status.returncode == 0, status.stderr
    cells = [[c.strip() for c in line.strip().strip("│").split("│")]
             for line in status.stdout.splitlines() if line.startswith("│")]
    rows = {row[0]: row[1:] for row in cells}
    assert sorted(rows) == ["frontend", "master", "node1", "node2", "node3"], status.stdout
    assert rows["master"][0] == "master" and rows["node1"][0] == "node", status.stdout
    assert all(row[1:3] == ["Ready", "v1.34.4"] for row in rows.values()), status.stdout
    assert "control planes: master" in status.stdout
    assert re.search(r"^capabilities: .*k8s-api.*workloads", status.stdout, re.M), status.stdout
    assert "lacks: hosts" in status.stdout


@pytest.mark.parametrize("setup, promised", [
    ("fcio-k8s", {"haproxy", "make-kubeconfig", "vxlan"}),
    ("nixos", {"vxlan"}),   # no frontend, no kubernetes-make-kubeconfig in seed 002
    ("k3s", {"haproxy", "make-kubeconfig", "host-gw"}),
])
def test_the_inventory_names_the_setup_whose_promises_are_checked(cluster, shared_dir, setup,
                                                                  promised):
    lab_id, kubeconfig = cluster
    inventory = yaml.safe_load((shared_dir / "inventory.yaml").read_text())
    path = shared_dir / f"inventory-{setup}.yaml"
    path.write_text(yaml.safe_dump({**inventory, "setup": setup}))
    status = on_frontend(lab_id, str(BIN / "harness"), "status", "--kubeconfig", str(kubeconfig),
                         "--inventory", str(path))
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith("capabilities: "))
    found = set(line.removeprefix("capabilities: ").split(", "))
    assert found & {"haproxy", "make-kubeconfig", "vxlan", "host-gw"} == promised, line
    assert {"hosts", "ssh", "popen", "k8s-api", "workloads"} <= found, line


def one_error_line(result: subprocess.CompletedProcess, prefix: str) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith(prefix), lines
    return lines[0]


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]   # closed again: nothing listens there


@pytest.fixture
def bad_kubeconfigs(tmp_path):
    """name -> (kubeconfig path, what its one error line says)."""
    good = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{refused_port()}",
                                                    "insecure-skip-tls-verify": True}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    files = {"missing": (tmp_path / "absent", "No such file or directory"),
             "not-yaml": (tmp_path / "not-yaml", "not YAML"),
             "not-a-kubeconfig": (tmp_path / "list", "not a kubeconfig"),
             "no-such-context": (tmp_path / "context", "c2"),
             "refused": (tmp_path / "refused", "cannot reach the apiserver https://127.0.0.1:")}
    files["not-yaml"][0].write_text("clusters: [\n")
    files["not-a-kubeconfig"][0].write_text("- 1\n- 2\n")
    files["no-such-context"][0].write_text(yaml.safe_dump({**good, "current-context": "c2"}))
    files["refused"][0].write_text(yaml.safe_dump(good))
    return files


@pytest.mark.parametrize("case", ["missing", "not-yaml", "not-a-kubeconfig", "no-such-context",
                                  "refused"])
def test_a_bad_kubeconfig_or_unreachable_apiserver_is_one_line(bad_kubeconfigs, case):
    path, says = bad_kubeconfigs[case]
    run = subprocess.run(pytest_argv(str(ROOT / "suites" / "test_health.py"), "--kubeconfig", str(path)),
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 4, run.stdout + run.stderr   # pytest: usage error, nothing ran
    assert says in one_error_line(run, "ERROR: ")
    status = harness("status", "--kubeconfig", str(path), timeout=120)
    assert status.returncode == 2
    assert says in one_error_line(status, "harness: ")


def test_refused_credentials_and_another_clusters_ca_are_one_line(cluster, shared_dir):
    """A real apiserver: a token it does not know, a CA that did not sign it."""
    lab_id, kubeconfig = cluster
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "not-a-token-of-this-cluster"}
    (shared_dir / "bad-token").write_text(yaml.safe_dump(config))
    config = yaml.safe_load(kubeconfig.read_text())
    ca = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "/dev/null",
                         "-subj", "/CN=another-ca", "-days", "1"],
                        capture_output=True, check=True).stdout
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca).decode()
    (shared_dir / "other-ca").write_text(yaml.safe_dump(config))
    for name, says in (("bad-token", "refused the credentials of kubeconfig"),
                       ("bad-token", "401 Unauthorized"), ("other-ca", "TLS with the apiserver")):
        run = on_frontend(lab_id, *pytest_argv(str(ROOT / "suites" / "test_health.py"),
                                               "--kubeconfig", str(shared_dir / name)))
        assert run.returncode == 4, run.stdout + run.stderr
        assert says in one_error_line(run, "ERROR: ")


class CoreOnly(Host):
    """A host offering the core only, as a customer's ssh host does."""

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        return CommandResult(self.name, " ".join(argv), 0, "", "")


@pytest.mark.parametrize("method, capability", [
    ("crash", "crash"), ("start", "crash"), ("block", "block"), ("unblock", "block"),
    ("supervisor_proxy", "supervisor"), ("shell_argv", "shell")])
def test_a_host_needs_only_exec_and_lacks_the_rest_by_name(method, capability):
    host = CoreOnly(HostSpec("customer1", ("node",), {}), "attached")
    host.put_file("/etc/x", "x")   # the core works
    with pytest.raises(MissingCapability) as raised:
        getattr(host, method)()
    assert raised.value.capability == capability
    assert f"lacks capability: {capability} (CoreOnly customer1" in str(raised.value)
    with pytest.raises(MissingCapability, match="capability: connect "):
        host.connect("10.0.0.1", 443)
