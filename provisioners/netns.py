"""The embedded default provisioner: hosts are Linux namespaces.

A host is a network namespace plus a persistent mount and UTS namespace: its
own hostname, its own /etc (an overlay on the machine's, so binaries and
package data are shared but every write is private), private /var/lib (same),
/var/log, /run and /tmp, and its own supervisord. Networks are bridges in a
switch namespace of the lab's own, joined to the hosts by veth pairs, so two
labs of one topology share no kernel object, name or address space.

Everything a lab makes is named after its id:
  /run/netns/hl.<lab>.<host>        a host's network namespace
  /run/netns/hl.<lab>._sw           the lab's switch (bridges live here)
  <run>/ns/<lab>.<host>.{mnt,uts}   a host's mount and UTS namespaces
  <run>/labs/<lab>/                 lab.json and each host's private dirs
so `list()` and `gc()` find it all again without any other record.
No route or NAT leads out of a lab and forwarding is never touched outside it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyroute2 import IPRoute

from harness.lab import procs, templates
from harness.lab.host import HOST_BIN_DIR, CommandResult, Host
from harness.lab import LAB_ID, Lab, LabRecord, new_lab_id
from harness.lab.progress import Steps
from harness.lab.supervisor import CONFIG_PATH, MAIN_CONFIG, SOCKET_PATH, unix_proxy
from harness.model.topology import Topology, from_record
from harness.lab.wait import wait_until
from provisioners.base import Provisioner, StuckLab
from provisioners import host_cgroups, lab_ssh, netns_connect, netns_pins
from provisioners.mounts import mounts

RUN_DIR = Path(os.environ.get("HARNESS_RUN_DIR", "/run/harness"))
NETNS_DIR = netns_pins.NETNS_DIR
PREFIX = "hl."
SWITCH = "_sw"
IFA_F_NODAD = 0x02
PATH = f"{HOST_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SUPERVISORD = "/usr/bin/supervisord"

# Puts the shell into the host's cgroups (the paths of their cgroup.procs
# files: the first argument says how many), then execs the rest: unshare
# then makes the host's cgroup namespace rooted there. One line: it is also
# part of the ssh ProxyCommand.
ENTER_CGROUPS = ('n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n - 1)); done; '
                 'exec "$@"')

# Runs inside the new namespaces (created by unshare) to make the host's
# private view of the machine. $1: the host's directory, $2: its hostname,
# $3: the run dir, then one "mountpoint fstype options" per cgroup hierarchy.
HOST_INIT = r"""
set -e
D=$1
hostname "$2"
# copies of other labs' namespace mounts would keep those namespaces alive
awk '$5 ~ "^(/run/netns/|/run/docker/netns/|'"$3"'/ns)" {print $5}' /proc/self/mountinfo \
  | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
shift 3
mount -t sysfs sysfs /sys
# the hierarchies again, seen from the host's cgroup namespace: its own subtree
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for h in "$@"; do
  set -- $h
  mkdir -p "$1"
  if [ "$2" = cgroup2 ]; then mount -t cgroup2 cgroup2 "$1"; else mount -t cgroup -o "$3" cgroup "$1"; fi
done
# a machine id of its own (kubelet reports it as the node's)
[ -s "$D/etc/machine-id" ] || tr -d - </proc/sys/kernel/random/uuid >"$D/etc/machine-id"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/etc,workdir=$D/.etc" /etc
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$D/varlib,workdir=$D/.varlib" /var/lib
# containerd's overlayfs snapshots cannot have an overlay as their upper dir
mkdir -p /var/lib/containerd
mount --bind "$D/containerd" /var/lib/containerd
mount --bind "$D/log" /var/log
mount --bind "$D/tmp" /tmp
mount --bind "$D/run" /run
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
ip link set lo up
"""


def netns_name(lab_id: str, host: str) -> str:
    return f"{PREFIX}{lab_id}.{host}"


class NetnsHost(lab_ssh.SshAccess, Host):
    def __init__(self, spec, lab_id: str, provisioner: NetnsProvisioner, index: int):
        super().__init__(spec, lab_id)
        self.provisioner = provisioner
        self.index = index
        self.netns = netns_name(lab_id, spec.name)
        self.dir = provisioner.lab_dir(lab_id) / "hosts" / spec.name
        self.mnt_file = provisioner.ns_dir / f"{lab_id}.{spec.name}.mnt"
        self.uts_file = provisioner.ns_dir / f"{lab_id}.{spec.name}.uts"
        self.cgroup_file = provisioner.ns_dir / f"{lab_id}.{spec.name}.cgroup"

    # how commands enter the host: its cgroups (so that what they start, such
    # as supervisord and all its services, stays in the host's subtree), then
    # its namespaces
    def nsenter(self) -> list[str]:
        cgroups = self.provisioner.cgroup_procs_files(self.lab_id, self.name)
        return ["sh", "-c", ENTER_CGROUPS, "enter", str(len(cgroups)), *cgroups, "nsenter", f"--net={NETNS_DIR / self.netns}", f"--mount={self.mnt_file}",
                f"--uts={self.uts_file}", f"--cgroup={self.cgroup_file}", "--wd=/", "--"]

    def environment(self) -> dict[str, str]:
        env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root"}
        if "TERM" in os.environ:
            env["TERM"] = os.environ["TERM"]
        return env

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        cmd = " ".join(argv[2:]) if argv[:2] == ["sh", "-c"] else " ".join(argv)
        streamed = input is not None and not isinstance(input, bytes)  # a file: the command's own
        proc = subprocess.Popen(self.nsenter() + argv, stdin=input if streamed else
                                subprocess.PIPE if input else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.environment(), start_new_session=True)
        try:
            out, err = proc.communicate(None if streamed else input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            err += f"\n(harness: killed after {timeout}s)".encode()
            return CommandResult(self.name, cmd, 124, out.decode(errors="surrogateescape"),
                                 err.decode(errors="replace"))
        return CommandResult(self.name, cmd, proc.returncode,
                             out.decode(errors="surrogateescape"), err.decode(errors="replace"))

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a long-running command on the host (a capture, a client)."""
        return subprocess.Popen(self.nsenter() + argv, env=self.environment(),
                                start_new_session=True, **kwargs)

    def connect(self, address, port, timeout=10):
        return netns_connect.connect(str(NETNS_DIR / self.netns), address, port, timeout)

    def shell_argv(self) -> list[str]:
        return self.nsenter() + ["bash", "-l"]

    def ssh_proxy_argv(self) -> list[str]:
        return self.nsenter() + ["socat", "STDIO", "TCP:127.0.0.1:22"]

    # supervisord
    @property
    def supervisor_socket(self) -> Path:
        # the host's /run is a bind of this directory, so the socket made
        # inside the host is reachable here by path
        return self.dir / "run" / SOCKET_PATH.removeprefix("/run/")

    def supervisor_proxy(self):
        return unix_proxy(str(self.supervisor_socket))

    def start(self) -> None:
        # the machine's supervisord (Debian's): the harness's own venv may
        # live under /tmp, which is private to each host
        self.supervisor_socket.unlink(missing_ok=True)
        result = self.exec([SUPERVISORD, "-c", CONFIG_PATH])
        if not result.ok:
            raise RuntimeError(f"supervisord did not start on {self.name}: {result.summary()}")

    def wait_started(self, timeout: float = 15) -> None:
        wait_until(lambda: self.supervisor_proxy().supervisor.getState()["statename"] == "RUNNING",
                   f"supervisord on {self.name}", timeout, interval=0.02)

    # faults
    def namespace_inodes(self) -> set[int]:
        found = {procs.ns_inode(str(p)) for p in (NETNS_DIR / self.netns, self.mnt_file)}
        return {i for i in found if i}

    def crash(self) -> None:
        procs.kill_all(self.namespace_inodes())

    def _switch_ports(self) -> list[tuple[str, str]]:
        topo = self.provisioner.topology_of(self.lab_id)
        nets = list(topo.networks)
        return [(port_name(self.index, nets.index(n)), f"br-{n}") for n in self.spec.addresses]

    def block(self) -> None:
        with IPRoute(netns=netns_name(self.lab_id, SWITCH)) as sw:
            for port, _ in self._switch_ports():
                sw.link("set", index=sw.link_lookup(ifname=port)[0], master=0)

    def unblock(self) -> None:
        with IPRoute(netns=netns_name(self.lab_id, SWITCH)) as sw:
            for port, bridge in self._switch_ports():
                sw.link("set", index=sw.link_lookup(ifname=port)[0],
                        master=sw.link_lookup(ifname=bridge)[0])


def port_name(host_index: int, net_index: int) -> str:
    """The switch side of a host's veth (the host side is named after the network)."""
    return f"p{host_index}n{net_index}"


class NetnsProvisioner(Provisioner):
    name = "netns"
    capabilities = frozenset({"popen", "connect"})  # NetnsHost.popen, NetnsHost.connect

    def __init__(self, run_dir: Path | str | None = None):
        self.run_dir = Path(run_dir or RUN_DIR)
        self.ns_dir = self.run_dir / "ns"
        self._topologies: dict[str, Topology] = {}
        self._hierarchies: list[host_cgroups.Hierarchy] | None = None

    def available(self) -> bool:
        return os.geteuid() == 0 and all(shutil.which(t) for t in ("unshare", "nsenter"))

    def cgroup_procs_files(self, lab_id: str, host: str) -> list[str]:
        if self._hierarchies is None:
            self._hierarchies = host_cgroups.hierarchies()
        return [f"{h.mountpoint}/{host_cgroups.subtree(lab_id, host)}/cgroup.procs"
                for h in self._hierarchies]

    def ssh_dir(self, lab_id: str) -> Path:
        return self.lab_dir(lab_id) / "ssh"

    def lab_dir(self, lab_id: str) -> Path:
        return self.run_dir / "labs" / lab_id

    def topology_of(self, lab_id: str) -> Topology:
        if lab_id not in self._topologies:
            record = self._read_record(lab_id)
            if record is None:
                raise LookupError(f"no netns lab {lab_id!r} on this machine "
                                  "(`harness status` lists the labs)")
            self._topologies[lab_id] = from_record(record["topology"], source=f"lab {lab_id}")
        return self._topologies[lab_id]

    # ------------------------------------------------------------------ state
    def _read_record(self, lab_id: str) -> dict | None:
        try:
            return json.loads((self.lab_dir(lab_id) / "lab.json").read_text())
        except (OSError, ValueError):
            return None

    def _write_record(self, lab_id: str, record: dict) -> None:
        path = self.lab_dir(lab_id) / "lab.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(path)

    def _ensure_pin_dirs(self) -> None:
        """/run/netns the way iproute2 keeps it (netns_pins), and a private
        mount for the mount namespaces, which can only be pinned on one.

        The mounts are the machine's, not a lab's: they stay when labs go, so
        that one lab's removal never races another lab's creation."""
        netns_pins.ensure_shared_dir()
        self.ns_dir.mkdir(parents=True, exist_ok=True)
        if str(self.ns_dir) not in [m.mountpoint for m in mounts()]:
            subprocess.run(["mount", "--bind", str(self.ns_dir), str(self.ns_dir)], check=True)
            subprocess.run(["mount", "--make-private", str(self.ns_dir)], check=True)

    # ----------------------------------------------------------------- create
    def create(self, topology: Topology, ssh: bool = False, steps: Steps | None = None) -> Lab:
        steps = steps or Steps()
        lab_id = new_lab_id(topology.name)
        self._ensure_pin_dirs()
        lab_dir = self.lab_dir(lab_id)
        lab_dir.mkdir(parents=True)
        # the record comes first: whatever follows can always be found and removed
        self._write_record(lab_id, {
            "id": lab_id, "provisioner": self.name, "topology": topology.to_dict(),
            "topology_file": topology.source, **procs.Owner.me().fields(), "complete": False,
            "created": time.time(), "ssh": ssh})
        self._topologies[lab_id] = topology
        try:
            hosts = {spec.name: NetnsHost(spec, lab_id, self, i)
                     for i, spec in enumerate(topology.hosts.values())}
            with steps.step(f"namespaces for {len(hosts)} hosts and a switch"):
                self._make_namespaces(lab_id, topology, hosts)
            with steps.step(f"{len(topology.networks)} network(s): bridges, veths, addresses"):
                self._wire(lab_id, topology, hosts)
            with steps.step("supervisord on every host"):
                self._start_supervisors(hosts)
            ssh_hosts = [hosts[name] for name in lab_ssh.wanted(topology, ssh)]
            if ssh_hosts:
                with steps.step(f"sshd on {len(ssh_hosts)} host(s)"):
                    lab_ssh.start_sshd(self.ssh_dir(lab_id), lab_id, ssh_hosts)
            record = self._read_record(lab_id)
            record["complete"] = True
            self._write_record(lab_id, record)
        except BaseException:
            self.destroy(lab_id)
            raise
        return Lab(lab_id, topology, self, hosts)

    def _make_namespaces(self, lab_id: str, topology: Topology, hosts: dict[str, NetnsHost]) -> None:
        hosts_file = etc_hosts(topology)
        hierarchies = host_cgroups.hierarchies()
        self._hierarchies = hierarchies
        procs_started = []
        switch = NETNS_DIR / netns_name(lab_id, SWITCH)
        switch.touch()
        procs_started.append(("switch", subprocess.Popen(
            ["unshare", f"--net={switch}", "sh", "-c",
             "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
             "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; ip link set lo up"],
            stderr=subprocess.PIPE)))
        for host in hosts.values():
            d = host.dir
            for sub in ("etc/supervisor/conf.d", ".etc", "varlib", ".varlib", "containerd", "log",
                        "run", "tmp"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            (d / "tmp").chmod(0o1777)
            (d / "etc/hostname").write_text(host.name + "\n")
            (d / "etc/hosts").write_text(hosts_file)
            (d / "etc/resolv.conf").write_text(
                "# lab host: names of the lab are in /etc/hosts; no resolver outside the lab\n")
            (d / "etc" / CONFIG_PATH.removeprefix("/etc/")).write_text(MAIN_CONFIG)
            for f in (host.mnt_file, host.uts_file, host.cgroup_file, NETNS_DIR / host.netns):
                f.touch()
            host_cgroups.make(lab_id, host.name)
            cgroups = self.cgroup_procs_files(lab_id, host.name)
            procs_started.append((host.name, subprocess.Popen(
                ["sh", "-c", ENTER_CGROUPS, "enter", str(len(cgroups)), *cgroups,
                 "unshare", f"--net={NETNS_DIR / host.netns}", f"--mount={host.mnt_file}",
                 f"--uts={host.uts_file}", f"--cgroup={host.cgroup_file}", "--propagation=private",
                 "sh", "-c", HOST_INIT, "init", str(d), host.name, str(self.run_dir),
                 *(f"{h.mountpoint} {h.fstype} {h.options or '-'}" for h in hierarchies)],
                stderr=subprocess.PIPE)))
        errors = []
        for name, proc in procs_started:
            _, err = proc.communicate()
            if proc.returncode:
                errors.append(f"{name}: {err.decode().strip()}")
        if errors:
            raise RuntimeError("could not make the lab's namespaces: " + "; ".join(errors))

    def _wire(self, lab_id: str, topology: Topology, hosts: dict[str, NetnsHost]) -> None:
        nets = list(topology.networks)
        with IPRoute(netns=netns_name(lab_id, SWITCH)) as sw:
            bridges = {}
            for net in nets:
                sw.link("add", ifname=f"br-{net}", kind="bridge")
                bridges[net] = sw.link_lookup(ifname=f"br-{net}")[0]
                sw.link("set", index=bridges[net], state="up")
            for host in hosts.values():
                for net in host.spec.addresses:
                    port = port_name(host.index, nets.index(net))
                    sw.link("add", ifname=port, kind="veth",
                            peer={"ifname": net, "net_ns_fd": host.netns})
                    idx = sw.link_lookup(ifname=port)[0]
                    sw.link("set", index=idx, ifalias=f"{host.name}/{net}")
                    sw.link("set", index=idx, master=bridges[net], state="up")
        for host in hosts.values():
            with IPRoute(netns=host.netns) as ipr:
                for net, addrs in host.spec.addresses.items():
                    idx = ipr.link_lookup(ifname=net)[0]
                    for fam, addr in addrs.items():
                        prefix = topology.networks[net].cidr(fam).prefixlen
                        extra = {"flags": IFA_F_NODAD} if fam == "ipv6" else {}
                        ipr.addr("add", index=idx, address=str(addr), prefixlen=prefix, **extra)
                    ipr.link("set", index=idx, state="up")

    def _start_supervisors(self, hosts: dict[str, NetnsHost]) -> None:
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            list(pool.map(lambda h: h.start(), hosts.values()))
            list(pool.map(lambda h: h.wait_started(), hosts.values()))

    # ----------------------------------------------------------------- attach
    def attach(self, lab_id: str) -> Lab:
        topology = self.topology_of(lab_id)
        record = self._read_record(lab_id)
        if not record.get("complete"):
            raise LookupError(f"lab {lab_id} was never completed (run `harness gc`)")
        hosts = {spec.name: NetnsHost(spec, lab_id, self, i)
                 for i, spec in enumerate(topology.hosts.values())}
        return Lab(lab_id, topology, self, hosts)

    def detach(self, lab_id: str) -> None:
        record = self._read_record(lab_id)
        if record is None:
            raise LookupError(f"no netns lab {lab_id!r}")
        record.update(procs.Owner(None, None, "").fields())
        self._write_record(lab_id, record)

    # ----------------------------------------------------------------- remove
    def _pin_prefixes(self, lab_id: str) -> list[str]:
        return [f"{NETNS_DIR}/{PREFIX}{lab_id}.", f"{self.ns_dir}/{lab_id}."]

    def _lab_namespace_files(self, lab_id: str) -> list[Path]:
        netns = list(NETNS_DIR.glob(f"{PREFIX}{lab_id}.*")) if NETNS_DIR.exists() else []
        pinned = list(self.ns_dir.glob(f"{lab_id}.*")) if self.ns_dir.exists() else []
        return pinned + netns

    def destroy(self, lab_id: str) -> None:
        """Kill the lab's processes, release its namespace pins wherever they
        are in the mount table (netns_pins), remove its files. Raises
        StuckLab, naming what holds the lab, if something stays."""
        if not LAB_ID.match(lab_id):
            raise LookupError(f"{lab_id!r} is not a lab id")
        prefixes = self._pin_prefixes(lab_id)
        files = self._lab_namespace_files(lab_id)
        inodes = {i for i in (procs.ns_inode(str(p)) for p in files) if i}
        inodes |= {m.ns_inode for m in netns_pins.pins_under(prefixes) if m.ns_inode}
        holders = []
        try:
            procs.kill_all(inodes)
        except procs.Survivors as exc:
            holders += [f"process {pid} ({procs.command_of(pid)}) survived SIGKILL"
                        for pid in exc.pids]
        # containers of a host's containerd are in none of its namespaces, only its cgroups
        holders += host_cgroups.remove(lab_id)
        for pin in netns_pins.release(prefixes):
            hidden_by = netns_pins.shadowing(pin)
            holders.append(f"mount {pin.mountpoint} ({pin.root})" + (
                " hidden under " + ", ".join(f"{m.mountpoint} ({m.fstype})" for m in hidden_by)
                if hidden_by else ""))
        for path in files:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                holders.append(f"file {path}: {exc.strerror}")
        if holders:
            raise StuckLab(lab_id, holders, stuck_lab_advice(holders))
        shutil.rmtree(self.lab_dir(lab_id), ignore_errors=True)
        self._topologies.pop(lab_id, None)

    def list(self) -> list[LabRecord]:
        ids: set[str] = set()
        if (self.run_dir / "labs").exists():
            ids |= {p.name for p in (self.run_dir / "labs").iterdir()}
        if NETNS_DIR.exists():
            ids |= {p.name[len(PREFIX):].rsplit(".", 1)[0] for p in NETNS_DIR.glob(f"{PREFIX}*")}
        if self.ns_dir.exists():
            ids |= {p.name.split(".", 1)[0] for p in self.ns_dir.iterdir()}
        # pins hidden under another tool's mount are in the mount table only
        ids |= {m.mountpoint[len(f"{NETNS_DIR}/{PREFIX}"):].rsplit(".", 1)[0]
                for m in netns_pins.pins_under([f"{NETNS_DIR}/{PREFIX}"])}
        records = []
        for lab_id in sorted(i for i in ids if LAB_ID.match(i)):
            rec = self._read_record(lab_id) or {}
            # a record of a harness older than procs.Owner names the pid owner_pid
            owner = procs.Owner.from_fields({"owner": rec.get("owner_pid"), **rec})
            hosts = [h["name"] for h in rec.get("topology", {}).get("hosts", [])]
            records.append(LabRecord(
                id=lab_id, provisioner=self.name,
                topology=rec.get("topology", {}).get("name", "?"),
                owner_pid=owner.pid, owner_alive=owner.alive(),
                hosts=hosts, complete=bool(rec.get("complete"))))
        return records


def stuck_lab_advice(holders: list[str]) -> str:
    hidden = sorted({h.split(" hidden under ", 1)[1].split(" (")[0] for h in holders
                     if " hidden under " in h})
    steps = [f"umount -l {m}" for m in hidden]
    if any(h.startswith("process") for h in holders):
        steps.insert(0, "end those processes (they may wait on I/O: see /proc/PID/stack)")
    return " && ".join(steps + ["harness gc --all"])


def etc_hosts(topology: Topology) -> str:
    """Every host by name (its first network) and by name.network."""
    return templates.render(Path(__file__).parent, "hosts.j2", topology=topology)
