"""Diagnostics bundles on a real netns lab: a host whose collection hangs is
reported as such, within its time bound, and does not hold up the others."""
from __future__ import annotations

import json
from pathlib import Path

from harness.lab import procs
from harness.lab.wait import wait_until

from harness.results import diagnostics

from harness.setups.parts.storage import nfs


def readers_of_the_fifo(host) -> list[int]:
    """The host's processes (by namespace) whose command line names the fifo."""
    found = []
    for pid in procs.pids_in(host.namespace_inodes()):
        try:
            if b"/var/log/stuck.log" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # gone meanwhile
            continue
    return found


def test_a_hung_host_is_reported_and_does_not_hold_the_bundle(small_lab, tmp_path):
    stuck = small_lab.host("node1")
    # a log nobody writes to: `tail` on it blocks, as on a host with a hung filesystem
    stuck.succeed("mkfifo /var/log/stuck.log")
    summary = diagnostics.collect(small_lab, tmp_path, host_timeout=3, command_timeout=60)
    # the bundle did not wait for the blocked command: it is still blocked
    assert readers_of_the_fifo(stuck), "the hung collector's command is gone"
    assert summary["hosts"]["node1"] == {"status": "timeout",
                                         "note": "collection did not finish within 3s"}
    master = summary["hosts"]["master"]
    assert master["status"] == "ok" and "logs.txt" in master["files"]
    assert "supervisord.log" in (tmp_path / "master" / "logs.txt").read_text()
    assert json.loads((tmp_path / "bundle.json").read_text())["hosts"]["node1"]["status"] == "timeout"
    # what node1 gave before it hung is kept; its hung collector wrote nothing
    assert (tmp_path / "node1" / "addresses.txt").exists()
    assert not (tmp_path / "node1" / "logs.txt").exists()
    stuck.run("echo unblock > /var/log/stuck.log", timeout=5)  # let the blocked tail end
    wait_until(lambda: not readers_of_the_fifo(stuck), "the unblocked collector command to end", 10)
    assert not (tmp_path / "node1" / "logs.txt").exists(), "a host past its bound wrote on"


def test_nfs_bundle_shows_the_config_the_setup_wrote(netns, tmp_path):
    """A component's collector reads the files that component writes: the
    nfs host's bundle holds the ganesha export the storage part configured."""
    from harness.model import topology
    from harness.setups.parts import storage
    from harness.setups.target import Target
    from pathlib import Path

    k3s = topology.load(Path(__file__).resolve().parent.parent / "fixtures" / "topologies"
                        / "k3s.yaml").only("server", "nfs")
    with netns.create(k3s) as lab:
        storage.apply(lab, Target(lab, {"lab"}))
        diagnostics.collect(lab, tmp_path)
        written = lab.host("nfs").get_file(nfs.CONFIG_PATH).decode()
        server = str(lab.host("server").address())
    exports = (tmp_path / "nfs" / "nfs-exports.txt").read_text()
    assert written.strip() and written.strip() in exports
    assert f"Path = {nfs.EXPORT_DIR};" in exports
    assert server in exports, "the clients allowed"


def test_a_console_gives_its_redacted_end_and_a_host_without_one_none(small_lab, tmp_path, monkeypatch):
    """Where the provisioner has a console (a VM's), the bundle keeps its last
    lines, secrets redacted; netns hosts have none, and no console.log."""
    master = small_lab.host("master")
    lines = [f"boot line {i}" for i in range(diagnostics.CONSOLE_LINES + 100)]
    key = "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----"
    console = "\n".join(lines + [key]).encode()
    monkeypatch.setattr(small_lab.provisioner, "console",
                        lambda host: console if host is master else None)
    summary = diagnostics.collect(small_lab, tmp_path)
    kept = (tmp_path / "master" / "console.log").read_text()
    assert "console.log" in summary["hosts"]["master"]["files"]
    assert kept.splitlines()[0] == lines[-diagnostics.CONSOLE_LINES + 3]
    assert "MIIEsecret" not in kept and diagnostics.REDACTED in kept
    assert not (tmp_path / "node1" / "console.log").exists()
    assert "console.log" not in summary["hosts"]["node1"]["files"]
