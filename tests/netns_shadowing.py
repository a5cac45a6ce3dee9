"""Runs one /run/netns shadowing scenario in a private mount namespace (started
by tests/test_netns_shadowing.py under `unshare -m`), so that unmounting the
machine's /run/netns here touches no other lab. Prints one JSON line:
{"ok": bool, "detail": str}. Whatever happens, it leaves no process behind.

    python tests/netns_shadowing.py SCENARIO
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.model import topology  # noqa: E402
from provisioners import mounts, netns_pins  # noqa: E402
from provisioners.base import StuckLab  # noqa: E402
from provisioners.netns import NetnsProvisioner  # noqa: E402
from tests.conftest import TWO_HOSTS, assert_no_trace, lab_footprint  # noqa: E402

NETNS = str(netns_pins.NETNS_DIR)
HARNESS = Path(sys.executable).parent / "harness"


def sh(command: str) -> None:
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)


def netns_dir_is_mount_point() -> bool:
    return netns_pins.NETNS_DIR.exists() and netns_pins.is_mount_point(netns_pins.NETNS_DIR)


def isolate() -> None:
    """This mount namespace as a fresh machine with no lab: the copies of
    other labs' pins are unmounted (else gc here would find those labs and
    kill their processes), and /run is an empty tmpfs, so /run/netns does
    not exist and is no mount point."""
    for pin in sorted((m.mountpoint for m in mounts.mounts()
                       if m.fstype == "nsfs" and m.mountpoint.startswith("/run/")), reverse=True):
        subprocess.run(["umount", "-l", pin], capture_output=True)
    sh("mount -t tmpfs -o mode=755 hl-test-run /run")


def unshadow() -> None:
    """Whatever a scenario mounted over /run/netns goes, so cleanup reaches the pins."""
    while netns_dir_is_mount_point():
        sh(f"umount -l {NETNS}")


def iproute2_probe() -> None:
    """What `ip netns`, podman or CNI do: pin and remove a namespace of their own."""
    sh("ip netns add hl-probe && ip netns del hl-probe")


def scenario_iproute2_after_harness(prov, topo):
    """The issue's sequence: harness up, then ip netns add/del, then harness down."""
    lab = prov.create(topo)
    if not netns_dir_is_mount_point():
        return False, "create did not make /run/netns a mount point first"
    iproute2_probe()
    return destroyed(prov, lab)


def lab_with_pins_on_the_plain_dir(prov, topo):
    """A lab as an older harness made it: pins on /run/netns as a plain directory."""
    real = netns_pins.ensure_shared_dir
    netns_pins.ensure_shared_dir = lambda: netns_pins.NETNS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        return prov.create(topo)
    finally:
        netns_pins.ensure_shared_dir = real


def scenario_pins_of_an_earlier_run(prov, topo):
    """Such pins, then iproute2's recursive bind mount of /run/netns: the
    originals are hidden under copies, and removal must find both."""
    lab = lab_with_pins_on_the_plain_dir(prov, topo)
    iproute2_probe()
    hidden = netns_pins.pins_under([f"{NETNS}/hl.{lab.id}."])
    if len(hidden) <= len(lab.hosts):
        return False, f"the scenario did not shadow the pins: {hidden}"
    return destroyed(prov, lab)


def scenario_plain_bind_over_pins(prov, topo):
    """Such pins, then a tool's plain bind mount of /run/netns over itself:
    the pins are hidden entirely (`umount` says "not mounted", unlink EBUSY)."""
    lab = lab_with_pins_on_the_plain_dir(prov, topo)
    sh(f"mount --bind {NETNS} {NETNS}")
    return destroyed(prov, lab)


def scenario_other_filesystem_over_pins(prov, topo):
    """A tmpfs over /run/netns: nothing can reach the pins. destroy must say so,
    gc must go on with other labs, and the advice given must work."""
    stuck_lab = prov.create(topo)
    stuck_lab.detach()
    sh(f"mount -t tmpfs hl-test {NETNS}")
    other = prov.create(topo)
    other_footprint = lab_footprint(prov, other.id)
    try:
        stuck_lab.destroy()
        return False, "destroy did not raise StuckLab"
    except StuckLab as exc:
        if not any(f"hidden under {NETNS} (tmpfs)" in h for h in exc.holders):
            return False, f"holders do not name the tmpfs: {exc.holders}"
        advice = exc.release
    other.detach()
    report = prov.gc(everything=True)
    if other.id not in report.removed or [s.lab_id for s in report.stuck] != [stuck_lab.id]:
        return False, f"gc: removed {report.removed}, stuck {[s.lab_id for s in report.stuck]}"
    assert_no_trace(prov, other.id, other_footprint["inodes"])
    if not advice.startswith(f"umount -l {NETNS} && harness gc --all"):
        return False, f"advice: {advice}"
    sh(f"umount -l {NETNS}")
    return destroyed(prov, stuck_lab)


def scenario_down_all(prov, topo):
    """`harness down --all` removes every lab, detached ones too. In this
    isolated namespace "every lab" is this test's labs only; the other
    backends are pointed at engines that do not exist."""
    labs = [prov.create(topo) for _ in range(2)]
    for lab in labs:
        lab.detach()
    inodes = {inode: ident for lab in labs for inode, ident in lab_footprint(prov, lab.id)["inodes"].items()}
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_HOST": "unix:///nonexistent", "PODMAN_HOST": "unix:///nonexistent",
           "LIBVIRT_DEFAULT_URI": "test:///nonexistent"}
    down = subprocess.run([str(HARNESS), "down", "--all"], capture_output=True, text=True, env=env)
    if down.returncode != 0 or "removed 2 lab(s)" not in down.stdout:
        return False, f"rc {down.returncode}: {down.stdout} {down.stderr}"
    for lab in labs:
        assert_no_trace(prov, lab.id, inodes)
    return True, down.stdout.strip()


def destroyed(prov, lab):
    footprint = lab_footprint(prov, lab.id)
    # pins hidden under another mount: their inode is known, their id is not
    inodes = {m.ns_inode: None for m in netns_pins.pins_under([f"{NETNS}/hl.{lab.id}."])
              if m.ns_inode} | footprint["inodes"]
    prov.destroy(lab.id)
    assert_no_trace(prov, lab.id, inodes)
    return True, "no namespace, mount or process left"


def main(scenario: str) -> None:
    isolate()
    prov = NetnsProvisioner()
    try:
        ok, detail = globals()[f"scenario_{scenario}"](prov, topology.load(TWO_HOSTS))
    except Exception as exc:  # noqa: BLE001 - reported to the test as its failure
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    finally:
        unshadow()
        left = prov.gc(everything=True)   # only this namespace's labs are visible
    if left.stuck:
        ok, detail = False, f"{detail}; cleanup stuck: {[str(s) for s in left.stuck]}"
    print(json.dumps({"ok": ok, "detail": detail}))


if __name__ == "__main__":
    main(sys.argv[1])
