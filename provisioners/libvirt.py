"""The libvirt provisioner: hosts are VMs booted from the host image.

A VM's disk is a qcow2 overlay on a raw ext4 image of the same debootstrap
root the docker image is made from; the Debian kernel of this machine
(linux-image-cloud-amd64) is booted directly with the image's boot script as
init, which mounts what an init mounts, wires the links (found by the MAC
the provisioner gave them), writes /etc/hosts and runs supervisord. The
VM's own settings come on a tiny read-only second disk (its config drive).

Commands reach a VM through the QEMU guest agent (no network is needed, so
lab networks stay isolated from the machine); supervisord's RPC goes the
same way. Networks are libvirt networks without <forward> and without <ip>:
a bare bridge, no address or DHCP on the machine, nothing routed out.

KVM is used where the hypervisor offers it and HARNESS_LIBVIRT_ACCEL is not
"tcg"; on this machine KVM guests hang, so CI runs plain QEMU emulation.

Everything of a lab is named `hl-<lab>-...` and each domain carries the lab
id, owner and topology in its <metadata>. The URI (`qemu+ssh://...` for a
remote hypervisor) is the `uri` option or LIBVIRT_DEFAULT_URI: disks,
kernel and config drives reach the hypervisor as storage volumes through the
libvirt connection (provisioners/libvirt_storage.py), so a remote hypervisor
needs nothing but libvirtd.

VMs have no sshd access (`ssh`): their lab networks are not connected to
this machine, and this kernel offers no vsock to tunnel through.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from harness.lab import procs, supervisor, templates
from harness.lab.host import CommandResult, Host
from harness.lab import LAB_ID, Lab, LabRecord, new_lab_id
from harness.lab.progress import Steps
from harness.model.topology import Topology, from_record
from harness.lab.wait import WaitTimeout, wait_until
from provisioners import exec_rpc, lab_ssh
from provisioners.base import Provisioner, Unsupported
from provisioners.image import CACHE_DIR, PACKAGES, apt_mirror, build_rootfs, image_tag, run
from provisioners.libvirt_storage import Storage
from provisioners.netns import etc_hosts

PREFIX = "hl-"
ROOT_SIZE = 3 << 30  # bytes: the root filesystem's size, as the VM sees it
META_NS = "https://k8s-conformance-harness.invalid/lab"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 init=/usr/local/sbin/harness-boot panic=-1"
#: the guest agent the harness execs through, started by the VM's supervisord
#: (virtio_console is a module in Debian's cloud kernel; the port appears after it)
GUEST_AGENT = supervisor.program_conf(
    "qemu-ga", ["sh", "-c", "modprobe virtio_console; exec qemu-ga -m virtio-serial -p /dev/vport*p1"],
    autorestart=True, startsecs=0, startretries=100)


def mac_of(lab_id: str, host: str, net: str) -> str:
    digest = hashlib.sha256(f"{lab_id}/{host}/{net}".encode()).hexdigest()
    return "52:54:00:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


class LibvirtHost(Host):
    def __init__(self, spec, lab_id: str, provisioner: LibvirtProvisioner):
        super().__init__(spec, lab_id)
        self.provisioner = provisioner
        self.domain_name = f"{PREFIX}{lab_id}-{spec.name}"

    @property
    def domain(self):
        return self.provisioner.conn.lookupByName(self.domain_name)

    def _agent(self, command: str, timeout: int = 10, **arguments) -> dict:
        import libvirt_qemu
        reply = libvirt_qemu.qemuAgentCommand(
            self.domain, json.dumps({"execute": command, "arguments": arguments}), timeout, 0)
        return json.loads(reply)["return"]

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        import libvirt
        cmd = " ".join(argv[2:]) if argv[:2] == ["sh", "-c"] else " ".join(argv)
        wrapped = (["timeout", "-s", "KILL", str(int(timeout) + 1)] if timeout else []) + argv
        args = {"path": wrapped[0], "arg": wrapped[1:], "capture-output": True,
                "env": [f"PATH={PATH}", "HOME=/root", "LANG=C.UTF-8"]}
        if input is not None:  # the guest agent takes stdin whole: a file is read to its end
            data = input if isinstance(input, bytes) else input.read()
            args["input-data"] = base64.b64encode(data).decode()
        try:
            pid = self._agent("guest-exec", **args)["pid"]
        except libvirt.libvirtError as exc:
            return CommandResult(self.name, cmd, 255, "", f"host {self.name} is down: {exc}")
        status = wait_until(lambda: (s := self._agent("guest-exec-status", pid=pid))["exited"] and s,
                            f"`{cmd}` on VM {self.name}", (timeout or 3600) + 15, interval=0.05)
        out = base64.b64decode(status.get("out-data", "")).decode(errors="surrogateescape")
        err = base64.b64decode(status.get("err-data", "")).decode(errors="replace")
        rc = status.get("exitcode", 128 + status.get("signal", 0))
        if timeout and rc == 137:
            rc, err = 124, err + f"\n(harness: killed after {timeout}s)"
        return CommandResult(self.name, cmd, rc, out, err)

    def put_file(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        """Written files are synced: crash() is a power cut, which would
        otherwise lose what the harness configured (service definitions)."""
        super().put_file(path, content, mode)
        self.succeed("sync")

    def shell_argv(self) -> list[str]:
        return ["virsh", "-c", self.provisioner.uri, "console", self.domain_name]

    def supervisor_proxy(self):
        return exec_rpc.proxy(self)

    def wait_started(self, timeout: float = 180) -> None:
        try:
            wait_until(lambda: self._agent("guest-ping", timeout=2) == {},
                       f"guest agent of VM {self.name}", timeout, interval=0.5)
        except WaitTimeout as exc:
            raise WaitTimeout(exc.what, exc.timeout, f"{exc.last_seen}; the end of its console:\n"
                              + self.provisioner.console_tail(self)) from None
        wait_until(lambda: self.supervisor_proxy().supervisor.getState()["statename"] == "RUNNING",
                   f"supervisord in VM {self.name}", 60, interval=0.2)

    def crash(self) -> None:
        self.domain.destroy()  # a power cut

    def start(self) -> None:
        self.domain.create()
        self.wait_started()

    def _set_links(self, state: str) -> None:
        import libvirt
        for net in self.spec.addresses:
            self.domain.updateDeviceFlags(interface_xml(self.lab_id, self.name, net, link=state),
                                          libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def block(self) -> None:
        """Pull the cables: the VM's links go down on the hypervisor side."""
        self._set_links("down")

    def unblock(self) -> None:
        self._set_links("up")


def console_log(host: LibvirtHost) -> str:
    """The VM's serial console, written by the hypervisor into the pool."""
    return f"{host.domain_name}.console.log"


def interface_xml(lab_id: str, host: str, net: str, link: str | None = None) -> str:
    return templates.render(Path(__file__).parent, "interface.xml.j2", network=f"{PREFIX}{lab_id}-{net}",
                            mac=mac_of(lab_id, host, net), link=link)


class LibvirtProvisioner(Provisioner):
    name = "libvirt"

    def __init__(self, uri: str | None = None, memory_mib: int = 384):
        import libvirt
        self._libvirt = libvirt
        # failures arrive as exceptions; libvirt's own printing to stderr is noise
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        self.uri = uri or os.environ.get("LIBVIRT_DEFAULT_URI", "qemu:///system")
        self.memory_mib = memory_mib
        self._conn = None
        self._storage = None

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self._libvirt.open(self.uri)
        return self._conn

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = Storage(self.conn, CACHE_DIR)
        return self._storage

    def available(self) -> bool:
        try:
            return self.conn.isAlive() == 1
        except self._libvirt.libvirtError:
            return False

    def accel(self) -> str:
        """'kvm' where the hypervisor offers it (and it is not turned off), else 'qemu'."""
        if os.environ.get("HARNESS_LIBVIRT_ACCEL", "auto") == "tcg":
            return "qemu"
        caps = self.conn.getCapabilities()
        return "kvm" if "<domain type='kvm'" in caps else "qemu"

    # ------------------------------------------------------------------ disks
    def base_files(self, steps: Steps) -> tuple[Path, Path, Path]:
        """On this machine: the compact qcow2 root image (made once per image
        tag, kernel and guest agent program), this machine's Debian kernel and
        its initrd."""
        kernels = sorted(glob.glob("/boot/vmlinuz-*-amd64"))
        if not kernels:
            raise RuntimeError("no Debian kernel in /boot: install linux-image-cloud-amd64")
        kernel, initrd = Path(kernels[-1]), Path(kernels[-1].replace("vmlinuz", "initrd.img"))
        version = kernel.name.removeprefix("vmlinuz-")
        mirror = apt_mirror()
        tag = image_tag(PACKAGES, mirror)
        agent = hashlib.sha256(GUEST_AGENT.encode()).hexdigest()[:8]
        image = CACHE_DIR / f"{tag.replace(':', '-')}-{version}-{agent}.qcow2"
        if image.exists():
            return image, kernel, initrd
        tarball = build_rootfs(tag, mirror, PACKAGES, steps)
        with steps.step(f"root image {image.name} from {tarball.name}"):
            root = Path(tempfile.mkdtemp(prefix="vmroot-", dir=CACHE_DIR))
            raw = image.with_suffix(".raw")
            try:
                run(["tar", "--numeric-owner", "-xf", str(tarball), "-C", str(root)], "tar")
                (root / "etc/supervisor/conf.d/qemu-ga.conf").write_text(GUEST_AGENT)
                # the VM boots this machine's kernel: its modules belong in the root
                shutil.copytree(f"/lib/modules/{version}", root / "lib/modules" / version,
                                symlinks=True)
                run(["mkfs.ext4", "-q", "-F", "-L", "harness-root", "-d", str(root),
                     str(raw), f"{ROOT_SIZE >> 20}M"], "mkfs.ext4")
                partial = image.with_suffix(".partial")
                run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(partial)],
                    "qemu-img convert")
                partial.replace(image)
            finally:
                shutil.rmtree(root, ignore_errors=True)
                raw.unlink(missing_ok=True)
        return image, kernel, initrd

    def base_volumes(self, steps: Steps) -> dict[str, object]:
        """The root image, kernel and initrd as volumes on the hypervisor."""
        files = dict(zip(("root", "kernel", "initrd"), self.base_files(steps)))
        volumes = {}
        for what, local in files.items():
            # a rebuilt file (same name, new content) must not meet its old volume
            stat = local.stat()
            version = hashlib.sha256(f"{stat.st_size}/{stat.st_mtime_ns}".encode()).hexdigest()[:8]
            name = f"{PREFIX}base-{version}-{local.name}"
            if f"{name}.ready" in self.storage.names(name):  # no upload step to show
                volumes[what] = self.storage.volume(name)
                continue
            size = stat.st_size >> 20
            with steps.step(f"upload {local.name} ({size} MiB) to pool {self.storage.pool.name()} "
                            f"on {self.uri}"):
                volumes[what] = self.storage.shared(local, name)
        return volumes

    def _config_drive(self, name: str, files: dict[str, str]):
        """A small ext4 volume holding the files (the VM's own settings)."""
        with tempfile.TemporaryDirectory() as d:
            content, image = Path(d) / "content", Path(d) / "drive.img"
            content.mkdir()
            for file_name, text in files.items():
                (content / file_name).write_text(text)
            run(["mkfs.ext4", "-q", "-F", "-d", str(content), str(image), "4M"],
                "mkfs.ext4 (config drive)")
            return self.storage.upload(image, name)

    # ----------------------------------------------------------------- create
    def create(self, topology: Topology, ssh: bool = False, steps: Steps | None = None) -> Lab:
        wants_ssh = lab_ssh.wanted(topology, ssh)
        if wants_ssh:
            raise Unsupported(
                f"the libvirt provisioner offers no ssh (asked for {', '.join(wants_ssh)}): VMs are "
                "reached through the QEMU guest agent and their lab networks are not connected to "
                "this machine; drop --ssh / `ssh: true`, or use the netns or docker provisioner")
        steps = steps or Steps()
        base = self.base_volumes(steps)
        lab_id = new_lab_id(topology.name)
        try:
            hosts = {s.name: LibvirtHost(s, lab_id, self) for s in topology.hosts.values()}
            with steps.step(f"{len(topology.networks)} isolated libvirt network(s)"):
                for i, net in enumerate(topology.networks):
                    self.conn.networkCreateXML(templates.render(
                        Path(__file__).parent, "network.xml.j2", name=f"{PREFIX}{lab_id}-{net}",
                        bridge=f"hv{lab_id[-6:]}n{i}"))
            accel = self.accel()
            with steps.step(f"{len(hosts)} VM(s) ({'KVM' if accel == 'kvm' else 'QEMU emulation'})"):
                for host in hosts.values():
                    self._make_domain(lab_id, topology, host, base, accel)
            with steps.step("boot: guest agent and supervisord on every VM"):
                for host in hosts.values():
                    host.wait_started()
        except BaseException:
            self.destroy(lab_id)
            raise
        return Lab(lab_id, topology, self, hosts)

    def _make_domain(self, lab_id, topology, host: LibvirtHost, base: dict, accel):
        disk = self.storage.overlay(f"{host.domain_name}.qcow2", base["root"], ROOT_SIZE)
        links = []
        for net, addrs in host.spec.addresses.items():
            cidrs = " ".join(f"{a}/{topology.networks[net].cidr(fam).prefixlen}"
                             for fam, a in addrs.items())
            links.append(f"{mac_of(lab_id, host.name, net)} {net} {cidrs}")
        config = self._config_drive(f"{host.domain_name}.config.img", {
            "links": "\n".join(links) + "\n", "hosts": etc_hosts(topology),
            "hostname": host.name + "\n"})
        meta = json.dumps({"lab": lab_id, "host": host.name, **procs.Owner.me().fields(),
                           "topology": topology.to_dict()})
        nics = "".join(interface_xml(lab_id, host.name, n) for n in host.spec.addresses)
        xml = templates.render(
            Path(__file__).parent, "domain.xml.j2", accel=accel, name=host.domain_name,
            meta_ns=META_NS, metadata=meta, memory_mib=self.memory_mib,
            kernel=base["kernel"].path(), initrd=base["initrd"].path(), cmdline=KERNEL_CMDLINE,
            disk=disk.path(), config_drive=config.path(), interfaces=nics,
            console=f"{self.storage.path}/{console_log(host)}")
        self.conn.defineXML(xml).create()

    # ------------------------------------------------------- find and remove
    def _metadata(self, dom) -> dict | None:
        try:
            element = dom.metadata(self._libvirt.VIR_DOMAIN_METADATA_ELEMENT, META_NS)
            return json.loads(ElementTree.fromstring(element).text)
        except (self._libvirt.libvirtError, ElementTree.ParseError, ValueError, TypeError):
            return None

    def _domains(self, lab_id: str | None = None) -> list[tuple[object, dict]]:
        found = []
        for dom in self.conn.listAllDomains():
            meta = self._metadata(dom) if dom.name().startswith(PREFIX) else None
            if meta and (lab_id is None or meta["lab"] == lab_id):
                found.append((dom, meta))
        return found

    def topology_of(self, lab_id: str) -> Topology:
        for _, meta in self._domains(lab_id):
            return from_record(meta["topology"], source=f"lab {lab_id}")
        raise LookupError(f"no libvirt lab {lab_id!r} on {self.uri}")

    def attach(self, lab_id: str) -> Lab:
        topology = self.topology_of(lab_id)
        return Lab(lab_id, topology, self,
                   {s.name: LibvirtHost(s, lab_id, self) for s in topology.hosts.values()})

    def detach(self, lab_id: str) -> None:
        if not self._domains(lab_id):
            raise LookupError(f"no libvirt lab {lab_id!r}")
        self.storage.empty(f"{PREFIX}{lab_id}-detached")

    def destroy(self, lab_id: str) -> None:
        if not LAB_ID.match(lab_id):
            raise LookupError(f"{lab_id!r} is not a lab id")
        libvirt = self._libvirt
        for dom in self.conn.listAllDomains():
            if dom.name().startswith(f"{PREFIX}{lab_id}-"):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        for net in self.conn.listAllNetworks():
            if net.name().startswith(f"{PREFIX}{lab_id}-"):
                try:
                    net.destroy()
                    net.undefine()
                except libvirt.libvirtError:
                    pass  # a transient network is gone once destroyed
        self.storage.delete(f"{PREFIX}{lab_id}-")

    def list(self) -> list[LabRecord]:
        labs: dict[str, list[dict]] = {}
        for _, meta in self._domains():
            labs.setdefault(meta["lab"], []).append(meta)
        records = []
        markers = set(self.storage.names(PREFIX)) if labs else set()
        for lab_id, metas in sorted(labs.items()):
            meta = metas[0]
            detached = f"{PREFIX}{lab_id}-detached" in markers
            owner = procs.Owner.from_fields(meta)
            hosts = [h["name"] for h in meta["topology"]["hosts"]]
            records.append(LabRecord(
                id=lab_id, provisioner=self.name, topology=meta["topology"]["name"],
                owner_pid=None if detached else owner.pid, owner_alive=owner.alive(),
                hosts=hosts, complete=set(hosts) <= {m["host"] for m in metas}))
        return records

    def console(self, host: LibvirtHost) -> bytes:
        """What the VM wrote to its serial console so far (kernel, boot script)."""
        if console_log(host) not in self.storage.names(console_log(host), refresh=True):
            return b""
        return self.storage.download(console_log(host))

    def console_tail(self, host: LibvirtHost, lines: int = 15) -> str:
        text = self.console(host).decode(errors="replace").splitlines()[-lines:]
        return "\n".join(text) or "(nothing)"
