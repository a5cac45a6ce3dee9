"""The libvirt provisioner against a real libvirtd (.ci/start-daemons): one
small VM under plain QEMU emulation (KVM guests hang on this machine), a
host-level check of the Host API through the guest agent, then teardown.
A second libvirtd on its own socket, sharing no files with this machine,
plays the remote hypervisor."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.wait import wait_until
from harness.model.topology import from_dict
from harness.results import diagnostics

from provisioners.base import Unsupported  # noqa: E402
from provisioners.libvirt import PREFIX, LibvirtProvisioner  # noqa: E402
from tests.conftest import default_routes, start_engine  # noqa: E402

REMOTE = "qemu+unix:///system?socket=/run/libvirt-remote/libvirt-sock"
ROOT = Path(__file__).resolve().parent.parent
TWO_HOSTS = Path(__file__).resolve().parent / "fixtures" / "two-hosts.yaml"
TWO = {"name": "vmlab", "setup": "k3s",
       "networks": [{"name": "srv", "ipv4": "192.168.31.0/24", "ipv6": "fd00:31::/64"}],
       "cluster": {"service_cidr": "10.43.0.0/16", "pod_cidr": "10.42.0.0/16"},
       "hosts": [{"name": "vm01", "roles": ["server"], "networks": ["srv"]},
                 {"name": "agent", "roles": ["agent"], "networks": ["srv"]}]}


def objects_of(prov: LibvirtProvisioner, lab_id: str) -> list[str]:
    """Every domain, network and volume of the lab on the provisioner's hypervisor."""
    mine = f"{PREFIX}{lab_id}-"
    return ([f"domain {d.name()}" for d in prov.conn.listAllDomains() if d.name().startswith(mine)]
            + [f"network {n.name()}" for n in prov.conn.listAllNetworks()
               if n.name().startswith(mine)]
            + [f"volume {v}" for v in prov.storage.names(mine, refresh=True)])


def one_vm():
    return from_dict(TWO, source="test_libvirt").only("vm01")  # one VM is enough


@pytest.fixture(scope="module")
def vm_lab():
    os.environ["HARNESS_LIBVIRT_ACCEL"] = "tcg"
    prov = LibvirtProvisioner()
    if not prov.available():
        pytest.fail("libvirtd does not answer: run .ci/start-daemons libvirt")
    lab = prov.create(one_vm())
    yield prov, lab
    lab.destroy()
    assert objects_of(prov, lab.id) == []


def test_vm_runs_the_debian_kernel_with_topology_addresses(vm_lab):
    prov, lab = vm_lab
    vm = lab.host("vm01")
    assert vm.succeed("hostname").strip() == "vm01"
    assert vm.succeed("uname -r").strip() in " ".join(os.listdir("/boot"))
    assert 'VERSION_ID="12"' in vm.succeed("cat /etc/os-release")
    assert vm.addresses("dev", "srv", "scope", "global") == {"srv 192.168.31.1/24",
                                                             "srv fd00:31::1/64"}
    assert default_routes(vm) == []
    assert vm.run("exit 3").rc == 3
    assert vm.run("sleep 30", timeout=2).rc == 124
    [record] = [r for r in prov.list() if r.id == lab.id]
    assert record.complete and not record.orphaned
    # disks, kernel and config drive are volumes of the hypervisor's pool
    assert {f"volume {PREFIX}{lab.id}-vm01.qcow2", f"volume {PREFIX}{lab.id}-vm01.config.img"} \
        <= set(objects_of(prov, lab.id))


def test_a_lab_of_part_of_a_topology_is_attached_again(vm_lab):
    prov, lab = vm_lab
    again = prov.attach(lab.id)
    assert list(again.hosts) == ["vm01"]
    assert again.host("vm01").succeed("cat /etc/hostname").strip() == "vm01"


def test_ssh_is_refused_before_anything_is_made():
    prov = LibvirtProvisioner()
    before = ([d.name() for d in prov.conn.listAllDomains()],
              [n.name() for n in prov.conn.listAllNetworks()])
    with pytest.raises(Unsupported, match="offers no ssh .*vm01"):
        prov.create(one_vm(), ssh=True)
    assert before == ([d.name() for d in prov.conn.listAllDomains()],
                      [n.name() for n in prov.conn.listAllNetworks()])


def no_carrier(host) -> bool:
    [srv] = host.links("dev", "srv")
    return "NO-CARRIER" in srv["flags"]


def test_vm_block_pulls_the_cable(vm_lab):
    _, lab = vm_lab
    vm = lab.host("vm01")
    vm.block()
    try:
        wait_until(lambda: no_carrier(vm), "srv to lose its carrier", timeout=20)
    finally:
        vm.unblock()
    wait_until(lambda: not no_carrier(vm), "srv to get its carrier back", timeout=20)


def test_vm_services_come_back_after_crash_and_start(vm_lab):
    _, lab = vm_lab
    vm = lab.host("vm01")
    svc = vm.service("sleeper").define("sleep 1000")
    svc.wait_for_state("RUNNING")
    vm.crash()
    assert vm.run("true").rc == 255
    vm.start()
    svc.wait_for_state("RUNNING", timeout=60)


def test_the_bundle_holds_the_console_fetched_from_the_pool(vm_lab, tmp_path):
    prov, lab = vm_lab
    summary = diagnostics.collect(lab, tmp_path)
    assert summary["hosts"]["vm01"]["status"] == "ok"
    console = prov.console(lab.host("vm01")).decode(errors="replace").splitlines()  # \r\n
    assert "Linux version" in console[0]  # the kernel's first words, as the hypervisor wrote them
    kept = (tmp_path / "vm01" / "console.log").read_text().splitlines()
    # its end (the console may have grown since)
    assert kept and "\n".join(kept) in "\n".join(console)
    assert "supervisord.log" in (tmp_path / "vm01" / "logs.txt").read_text()


def test_lab_on_a_remote_hypervisor(vm_lab):
    local, _ = vm_lab
    start_engine("libvirt", "--socket-suffix", "remote")
    remote = LibvirtProvisioner(uri=REMOTE)
    with remote.create(one_vm()) as lab:
        vm = lab.host("vm01")
        assert vm.succeed("cat /etc/hostname").strip() == "vm01"
        assert "srv 192.168.31.1/24" in vm.addresses("dev", "srv")
        # its disks are files of the other hypervisor only: they went there through the API
        disk = remote.storage.volume(f"{PREFIX}{lab.id}-vm01.qcow2").path()
        assert not Path(disk).exists()
        assert objects_of(remote, lab.id) and objects_of(local, lab.id) == []
        assert lab.id in [r.id for r in remote.list()]
        assert lab.id not in [r.id for r in local.list()]
    assert objects_of(remote, lab.id) == []


def test_the_host_level_suite_passes_on_vms(tmp_path):
    """suites/test_lab.py (reachability matrix, names, a service reached from
    the other hosts) as a user runs it, on two emulated VMs."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_lab.py", "--provisioner", "libvirt",
         "--topology", str(TWO_HOSTS), "-q", "-p", "no:cacheprovider", "-rfEs",
         "--results-dir", str(tmp_path / "results")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "HARNESS_LIBVIRT_ACCEL": "tcg"})
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
