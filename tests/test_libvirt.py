"""The libvirt provisioner against a real libvirtd (.ci/start-daemons): one
small VM under plain QEMU emulation (KVM guests hang on this machine), a
host-level check of the Host API through the guest agent, then teardown."""
from __future__ import annotations

import dataclasses
import os

import pytest

from harness.topology import from_dict

pytest.importorskip("libvirt")

from provisioners.libvirt import DISK_DIR, PREFIX, LibvirtProvisioner  # noqa: E402

TWO = {"name": "vmlab", "setup": "k3s",
       "networks": [{"name": "srv", "ipv4": "192.168.31.0/24", "ipv6": "fd00:31::/64"}],
       "cluster": {"service_cidr": "10.43.0.0/16", "pod_cidr": "10.42.0.0/16"},
       "hosts": [{"name": "vm01", "roles": ["server"], "networks": ["srv"]},
                 {"name": "agent", "roles": ["agent"], "networks": ["srv"]}]}


def objects_of(prov: LibvirtProvisioner, lab_id: str) -> list[str]:
    mine = f"{PREFIX}{lab_id}-"
    return ([f"domain {d.name()}" for d in prov.conn.listAllDomains() if d.name().startswith(mine)]
            + [f"network {n.name()}" for n in prov.conn.listAllNetworks()
               if n.name().startswith(mine)]
            + ([f"dir {DISK_DIR / lab_id}"] if (DISK_DIR / lab_id).exists() else []))


@pytest.fixture(scope="module")
def vm_lab():
    os.environ["HARNESS_LIBVIRT_ACCEL"] = "tcg"
    prov = LibvirtProvisioner()
    if not prov.available():
        pytest.fail("libvirtd does not answer: run .ci/start-daemons libvirt")
    topo = from_dict(TWO, source="test_libvirt")
    topo = dataclasses.replace(topo, hosts={"vm01": topo.hosts["vm01"]})  # one VM is enough
    lab = prov.create(topo)
    yield prov, lab
    lab.destroy()
    assert objects_of(prov, lab.id) == []


def test_vm_runs_the_debian_kernel_with_topology_addresses(vm_lab):
    prov, lab = vm_lab
    vm = lab.host("vm01")
    assert vm.succeed("hostname").strip() == "vm01"
    assert vm.succeed("uname -r").strip() in " ".join(os.listdir("/boot"))
    assert 'VERSION_ID="12"' in vm.succeed("cat /etc/os-release")
    shown = vm.succeed("ip -o addr show dev srv scope global")
    assert "192.168.31.1/24" in shown and "fd00:31::1/64" in shown
    assert "default" not in vm.succeed("ip route")
    assert vm.run("exit 3").rc == 3
    assert vm.run("sleep 30", timeout=2).rc == 124
    [record] = [r for r in prov.list() if r.id == lab.id]
    assert record.complete and not record.orphaned


def test_vm_block_pulls_the_cable(vm_lab):
    _, lab = vm_lab
    vm = lab.host("vm01")
    vm.block()
    try:
        vm.wait_until_succeeds("ip link show srv | grep -q NO-CARRIER", timeout=20)
    finally:
        vm.unblock()
    vm.wait_until_fails("ip link show srv | grep -q NO-CARRIER", timeout=20)


def test_vm_services_come_back_after_crash_and_start(vm_lab):
    _, lab = vm_lab
    vm = lab.host("vm01")
    svc = vm.service("sleeper").define("sleep 1000")
    svc.wait_for_state("RUNNING")
    vm.crash()
    assert vm.run("true").rc == 255
    vm.start()
    svc.wait_for_state("RUNNING", timeout=60)
