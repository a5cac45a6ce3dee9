"""The `harness` command end to end, as a user types it."""
import hashlib
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TWO_HOSTS, assert_no_trace, lab_footprint, start_engine

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(ROOT / ".venv" / "bin" / "harness")


def harness(*args, check=True, timeout=300, **kwargs):
    """Run `harness ARGS` as a user would; kwargs (input, stdin, ...) go to subprocess.run."""
    result = subprocess.run([HARNESS, *args], capture_output=True, text=True, cwd=ROOT,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "200"},
                            timeout=timeout, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_up_status_exec_down(netns):
    up = harness("up", str(TWO_HOSTS))
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    try:
        assert f"harness shell {lab_id} master" in up.stdout
        assert "ssh -F" not in up.stdout, "no sshd without --ssh"
        assert "namespaces for 2 hosts" in up.stderr, "each step shows progress"
        status = harness("status", lab_id).stdout
        assert lab_id in status and "detached" in status and "192.168.77.10" in status
        out = harness("exec", lab_id, "node1", "--", "ping", "-c1", "-W2", "master")
        assert "1 received" in out.stdout
        failed = harness("exec", lab_id, "node1", "--", "sh", "-c", "exit 7", check=False)
        assert failed.returncode == 7
        missing = harness("exec", lab_id, "nohost", "--", "true", check=False)
        assert missing.returncode == 2 and "has no host 'nohost'" in missing.stderr
        harness("exec", lab_id, "master", "--", "true")
        assert lab_id not in harness("gc").stdout, "gc keeps a detached lab"
    finally:
        footprint = lab_footprint(netns, lab_id)
        harness("down", lab_id)
    assert_no_trace(netns, lab_id, footprint["inodes"])
    assert harness("status", lab_id, check=False).returncode == 2


def test_up_with_ssh_prints_the_ssh_command_that_reaches_each_host(netns):
    up = harness("up", str(TWO_HOSTS), "--ssh")
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    try:
        for host in ("master", "node1"):
            [line] = re.findall(rf"ssh -F \S+ {host}\b", up.stdout)
            ssh, *args = shlex.split(line)
            # as printed, with no prompt to answer: it fails rather than asks
            reached = subprocess.run([ssh, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *args,
                                      "hostname"], capture_output=True, text=True, timeout=60,
                                     stdin=subprocess.DEVNULL)
            assert (reached.returncode, reached.stdout) == (0, f"{host}\n"), reached.stderr
    finally:
        footprint = lab_footprint(netns, lab_id)
        harness("down", lab_id)
    assert_no_trace(netns, lab_id, footprint["inodes"])


@pytest.fixture(scope="module", params=["netns", "docker", "podman"])
def any_lab(request):
    """A lab of two hosts made by `harness up --provisioner P` (its engine
    started first), removed by `harness down`."""
    if request.param != "netns":
        start_engine(request.param)
    up = harness("up", str(TWO_HOSTS), "--provisioner", request.param)
    lab_id = re.search(r"lab (\S+) is up", up.stdout).group(1)
    yield lab_id
    harness("down", lab_id)
    assert harness("status", lab_id, check=False).returncode == 2


def test_exec_passes_piped_stdin_to_the_command(any_lab, tmp_path):
    assert harness("exec", any_lab, "master", "--", "cat", input="x").stdout == "x"
    # more than any pipe or socket buffer holds, as it comes
    big = "".join(f"line {i}\n" for i in range(150000))
    digest = harness("exec", any_lab, "node1", "--", "sha256sum", input=big).stdout
    assert digest.split()[0] == hashlib.sha256(big.encode()).hexdigest()
    # `harness exec LAB master -- kubectl apply -f - < app.yaml`
    manifest = tmp_path / "app.yaml"
    manifest.write_text("kind: ConfigMap\nmetadata: {name: app}\n")
    with manifest.open() as stdin:
        harness("exec", any_lab, "master", "--", "sh", "-c", "cat > /tmp/app.yaml", stdin=stdin)
    assert harness("exec", any_lab, "master", "--", "cat", "/tmp/app.yaml").stdout == \
        manifest.read_text()


def closed_stdin():
    os.close(0)


@pytest.mark.parametrize("stdin", ["devnull", "closed", "terminal"])
def test_exec_without_piped_stdin_does_not_wait_for_it(any_lab, stdin):
    """A terminal is not read (an interactive session is `harness shell`); no
    stdin, or an empty one, gives the command an empty one."""
    terminal, tty = os.openpty()
    try:
        result = harness("exec", any_lab, "master", "--", "cat", timeout=30,
                         stdin=tty if stdin == "terminal" else subprocess.DEVNULL,
                         preexec_fn=closed_stdin if stdin == "closed" else None)
    finally:
        os.close(terminal)
        os.close(tty)
    assert (result.returncode, result.stdout) == (0, "")


def test_exec_ends_with_the_command_while_its_stdin_stays_open(any_lab):
    """As `docker exec -i`: a command that reads no stdin ends the exec even
    though whoever writes into it never closes it."""
    proc = subprocess.Popen([HARNESS, "exec", any_lab, "master", "--", "hostname"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        rc = proc.wait(timeout=30)  # not communicate(), which would close stdin
        out = proc.stdout.read()
    finally:
        proc.kill()
        proc.stdin.close()
        proc.stdout.close()
    assert (rc, out) == (0, "master\n")


def test_up_with_bad_topology_creates_nothing(netns, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TWO_HOSTS.read_text().replace("roles: [node]", "roles: [minion]"))
    def labs_of_its_topology():  # other labs come and go on a shared machine
        return {r.id for r in netns.list() if r.topology == "two"}
    before = labs_of_its_topology()
    result = harness("up", str(bad), check=False)
    assert result.returncode == 2
    assert f"{bad}: hosts.node1.roles: unknown role 'minion'" in result.stderr.replace("\n", "")
    assert labs_of_its_topology() == before


@pytest.mark.parametrize("args, message", [
    (["up", str(TWO_HOSTS), "--provisioner", "vmware"], "unknown provisioner 'vmware'"),
    (["up", str(TWO_HOSTS), "--e2e-images"], "--e2e-images needs --apply"),
    (["down", "nosuch-000000"], "no lab 'nosuch-000000'"),
    (["down"], "down needs lab ids or --all (not both)"),
    (["down", "--all", "nosuch-000000"], "down needs lab ids or --all (not both)"),
    (["shell", "nosuch-000000", "master"], "no lab 'nosuch-000000'"),
    (["up", str(TWO_HOSTS), "--provisioner", "libvirt", "--ssh"],
     "the libvirt provisioner offers no ssh (asked for master, node1)"),
    (["gc", "--kubeconfig", "/nonexistent", "--all"],
     "gc --kubeconfig removes only the namespaces of runs that are gone (--all is for labs)"),
])
def test_bad_arguments_get_one_clear_error(args, message):
    result = harness(*args, check=False)
    assert result.returncode == 2 and message in result.stderr.replace("\n", "")


def test_an_error_prints_verbatim_on_one_line():
    """What an error names comes out as it is: rich would take "[fd00::1]"
    for a style tag and drop it, and would break a long name across lines."""
    name = "nosuch-[fd00::1]-[red]-" + "x" * 120
    result = subprocess.run([HARNESS, "down", name], capture_output=True, text=True, cwd=ROOT,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "80"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"harness: no lab '{name}' on this machine (`harness status` lists the labs)"]


def test_every_option_of_every_command_says_what_it_does():
    """`harness CMD --help` lists each option with what it does (nightly and
    report listed bare names once)."""
    import argparse
    from harness.cli import build_parser
    commands = next(a for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    bare = [f"{name} {'/'.join(a.option_strings)}" for name, parser in commands.items()
            for a in parser._actions if a.option_strings and a.dest != "help" and not a.help]
    assert bare == []
    for command, says in (("report", "how many of the latest runs are looked at for flaky"),
                          ("nightly", "how long one setup's run may take")):
        assert says in " ".join(harness(command, "--help").stdout.split())


def test_unknown_flag_is_refused():
    result = harness("up", str(TWO_HOSTS), "--turbo", check=False)
    assert result.returncode == 2 and "unrecognized arguments: --turbo" in result.stderr


def test_doctor_names_what_is_missing_and_how_to_install():
    result = harness("doctor", check=False)
    assert "iproute2" in result.stdout and "present" in result.stdout
    assert "Kubernetes artifacts" in result.stdout and "kubelet" in result.stdout
