"""The docker provisioner: hosts are privileged containers of the host image.

Each host is a container (own root filesystem, hostname, PID namespace) whose
main process is the image's boot script, which wires the lab links and then
runs supervisord, so `crash()` is `docker kill` and `start()` is `docker
start`: a reboot that brings back every autostart service.

Networks. Each topology network is a docker bridge network of the lab,
`internal` (no route out, no NAT) and with `inhibit_ipv4` (the bridge has no
address on the machine). The topology's addresses are NOT docker's: dockerd
refuses two networks with the same subnet, so two labs of one topology could
never share a daemon. Instead each docker network gets a scratch /24 from
SCRATCH_POOL (only used to tell which container link is which), and the boot
script renames the link after its network and gives it the topology's IPv4
and IPv6 addresses. Two labs of one topology thus share nothing but the
daemon, and the lab hosts look as on the netns lab (link `<network>`).

Every object carries the labels `harness.lab=<id>`; `list`/`gc`/`destroy`
find them by label, no state file. Ownership: `harness.owner` on the
networks; `detach()` adds a labelled volume `hl-<lab>-detached`.

The engine is the docker SDK's `from_env()` (DOCKER_HOST), or `base_url`: a
remote engine works the same, except that supervisord's socket is reached
through `docker exec` instead of a bind-mounted directory.

podman's docker-compatible socket (`podman system service`) is an engine too;
`DockerProvisioner.engine` tells them apart by the version's components. What
differs there: podman's compat network create always turns on its DNS server
(aardvark-dns on a gateway address on the machine's bridge, forwarding lab
queries to the machine's resolvers) and ignores `inhibit_ipv4`, so lab
networks are made through podman's own API without DNS and gateway; podman's
default rlimits exceed this machine's hard limits (PODMAN_ULIMITS); it ignores
empty MaskedPaths/ReadonlyPaths (`unmask=ALL` instead); exec in a stopped
container is its 500 "state improper", not 409. `PodmanProvisioner` is the
same with podman's socket as default.
"""
from __future__ import annotations

import io
import ipaddress
import json
import os
import shutil
import tarfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.artifacts import store as artifacts_store
from harness.lab import procs
from harness.lab.host import HOST_BIN_DIR, CommandResult, Host
from harness.lab import LAB_ID, Lab, LabRecord, new_lab_id
from harness.lab.progress import Steps
from harness.lab.supervisor import SOCKET_PATH, unix_proxy
from harness.model.topology import Topology, from_record
from harness.lab.wait import wait_until
from provisioners.base import Provisioner
from provisioners import docker_exec, exec_rpc, lab_ssh, netns_connect
from provisioners.netns import etc_hosts

LABEL = "harness.lab"
PREFIX = "hl-"
RUN_DIR = Path(os.environ.get("HARNESS_RUN_DIR", "/run/harness")) / "docker"
#: scratch subnets for docker's own bookkeeping (RFC 2544 benchmarking range)
SCRATCH_POOL = ipaddress.ip_network("198.18.0.0/15")
BLOCK_CHAIN = "HARNESS-BLOCK"
PODMAN_SOCKET = "unix:///run/podman/podman.sock"
#: podman's defaults (nofile 1048576) exceed the hard limits of this machine
#: (nofile 20000): runc then cannot start the container
PODMAN_ULIMITS = {"nofile": 20000, "nproc": 4096}
CONTAINERD_ROOT = "/var/lib/containerd"
PATH = f"{HOST_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

def container_name(lab_id: str, host: str) -> str:
    return f"{PREFIX}{lab_id}-{host}"


class DockerHost(lab_ssh.SshAccess, Host):
    def __init__(self, spec, lab_id: str, provisioner: DockerProvisioner):
        super().__init__(spec, lab_id)
        self.provisioner = provisioner
        self.container_name = container_name(lab_id, spec.name)
        self.run_dir = provisioner.lab_run_dir(lab_id) / spec.name

    @property
    def engine_addresses(self) -> frozenset[str]:
        """dockerd answers DNS on 127.0.0.11 in every container of a user-defined
        network (its embedded resolver); podman's lab networks have no DNS."""
        return frozenset({"127.0.0.11"} if self.provisioner.engine == "docker" else ())

    @property
    def container(self):
        return self.provisioner.client.containers.get(self.container_name)

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        cmd = " ".join(argv[2:]) if argv[:2] == ["sh", "-c"] else " ".join(argv)
        api = self.provisioner.client.api
        # the command is killed inside the host when it overstays
        wrapped = (["timeout", "-s", "KILL", str(int(timeout) + 1)] if timeout else []) + argv
        try:
            exec_id = api.exec_create(self.container_name, wrapped, stdin=input is not None,
                                      environment={"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"})
        except self.provisioner.docker_errors.APIError as exc:
            # the container is not running: dockerd says 409, podman 500 "state improper"
            if exc.status_code != 409 and "state improper" not in str(exc.explanation):
                raise
            # what ssh to a powered-off machine gives: a failed command, not an exception
            return CommandResult(self.name, cmd, 255, "", f"host {self.name} is down: {exc.explanation}")
        stream = docker_exec.ExecStream(api, exec_id["Id"], timeout=timeout + 15 if timeout else None)
        stream.send(input)
        out, err = stream.output()
        rc = api.exec_inspect(exec_id)["ExitCode"]
        out, err = out.decode(errors="surrogateescape"), err.decode(errors="replace")
        if timeout and rc == 137:
            rc, err = 124, err + f"\n(harness: killed after {timeout}s)"
        return CommandResult(self.name, cmd, rc, out, err)

    def connect(self, address, port, timeout=10):
        """Through the container's network namespace, which this process
        reaches only when the engine runs on this machine."""
        if "connect" not in self.provisioner.capabilities:
            return super().connect(address, port, timeout)
        pid = self.container.attrs["State"]["Pid"]
        if not pid:
            raise ConnectionRefusedError(f"host {self.name} is down (container not running)")
        return netns_connect.connect(f"/proc/{pid}/ns/net", address, port, timeout)

    def docker_cli(self) -> list[str]:
        """The docker CLI on this host's engine (a remote one, podman's socket)."""
        engine = ["-H", self.provisioner.base_url] if self.provisioner.base_url else []
        return ["docker", *engine]

    def shell_argv(self) -> list[str]:
        return [*self.docker_cli(), "exec", "-it", self.container_name, "bash", "-l"]

    def ssh_proxy_argv(self) -> list[str]:
        return [*self.docker_cli(), "exec", "-i", self.container_name,
                "socat", "STDIO", "TCP:127.0.0.1:22"]

    def testinfra_backend(self):
        """testinfra's own docker (podman) backend: the `docker://` (`podman://`)
        URL, through the engine's CLI."""
        import testinfra.backend
        return testinfra.backend.get_backend(f"{self.provisioner.engine}://{self.container_name}")

    def supervisor_proxy(self):
        if self.provisioner.shared_filesystem:
            return unix_proxy(str(self.run_dir / SOCKET_PATH.removeprefix("/run/")))
        return exec_rpc.proxy(self)

    def wait_started(self, timeout: float = 30) -> None:
        def running():
            return self.supervisor_proxy().supervisor.getState()["statename"] == "RUNNING"
        wait_until(running, f"supervisord in container {self.container_name}", timeout,
                   interval=0.05)

    def crash(self) -> None:
        self.container.kill()
        wait_until(lambda: self.container.status != "running",
                   f"container {self.container_name} to stop", 30)

    def start(self) -> None:
        self.container.start()
        self.wait_started()

    def block(self) -> None:
        """Drop every IPv4/IPv6 packet on the lab links, both ways, inside
        the host (a chain of its own in iptables/ip6tables): addresses and
        routes stay as they are, as with a pulled cable. The kernel here has
        no netem or tc classifiers, so tc cannot do it."""
        script = []
        for tool in ("iptables", "ip6tables"):
            script.append(f"{tool} -N {BLOCK_CHAIN} 2>/dev/null || {tool} -F {BLOCK_CHAIN}")
            for link in self.spec.addresses:
                script += [f"{tool} -A {BLOCK_CHAIN} -i {link} -j DROP",
                           f"{tool} -A {BLOCK_CHAIN} -o {link} -j DROP"]
            for hook in ("INPUT", "OUTPUT", "FORWARD"):
                script.append(f"{tool} -C {hook} -j {BLOCK_CHAIN} 2>/dev/null || "
                              f"{tool} -I {hook} 1 -j {BLOCK_CHAIN}")
        self.succeed(" && ".join(f"({line})" for line in script))

    def unblock(self) -> None:
        script = []
        for tool in ("iptables", "ip6tables"):
            for hook in ("INPUT", "OUTPUT", "FORWARD"):
                script.append(f"while {tool} -D {hook} -j {BLOCK_CHAIN} 2>/dev/null; do :; done")
            script.append(f"{tool} -F {BLOCK_CHAIN} 2>/dev/null; {tool} -X {BLOCK_CHAIN} 2>/dev/null")
        self.succeed("; ".join(script) + "; true")


class DockerProvisioner(Provisioner):
    name = "docker"

    def __init__(self, base_url: str | None = None, image: str | None = None,
                 shared_filesystem: bool | None = None):
        import docker
        self._docker = docker
        self.docker_errors = docker.errors
        self.base_url = base_url or self.default_base_url()
        self.image = image
        # a bind-mounted directory reaches supervisord only when the engine
        # runs on this machine (a unix socket)
        self.local_engine = not self.base_url or self.base_url.startswith("unix://")
        self.shared_filesystem = self.local_engine if shared_filesystem is None else shared_filesystem
        # DockerHost.connect enters a container's namespace through /proc
        self.capabilities = frozenset({"connect"} if self.local_engine else ())
        self._client = None
        self._engine = None

    @staticmethod
    def default_base_url() -> str | None:
        """The engine's address when none is given (None: the SDK's from_env)."""
        return os.environ.get("DOCKER_HOST")

    @property
    def engine(self) -> str:
        """"podman" or "docker": what answers on the socket."""
        if self._engine is None:
            components = self.client.version().get("Components") or []
            self._engine = "podman" if any("podman" in c.get("Name", "").lower()
                                           for c in components) else "docker"
        return self._engine

    @property
    def client(self):
        if self._client is None:
            self._client = (self._docker.DockerClient(base_url=self.base_url)
                            if self.base_url else self._docker.from_env())
        return self._client

    def available(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:  # noqa: BLE001 - no engine reachable
            return False

    def privileges(self) -> dict:
        """What a host container may do: everything the components need
        (namespaces for pods, routes, tc, sysctls).

        `privileged` asks for every capability; where this machine itself
        runs without some (a container or a restricted VM: runc then fails
        with "unable to apply caps"), the host gets all that it has instead,
        with the same unconfined seccomp/AppArmor and writable /proc/sys.
        """
        # a remote engine's machine is assumed to grant every capability
        missing = missing_capabilities() if self.local_engine else []
        if not missing:
            return {"privileged": True}
        security = ["seccomp=unconfined", "apparmor=unconfined"]
        if self.engine == "podman":
            # podman ignores the empty MaskedPaths/ReadonlyPaths of _make_container
            security.append("unmask=ALL")
        return {"cap_add": ["ALL"], "cap_drop": missing, "security_opt": security}

    def lab_run_dir(self, lab_id: str) -> Path:
        return RUN_DIR / lab_id

    def ssh_dir(self, lab_id: str) -> Path:
        """On this machine (the engine may be elsewhere): the lab's ssh key and config."""
        return self.lab_run_dir(lab_id) / "ssh"

    def _labels(self, lab_id: str, **extra) -> dict[str, str]:
        return {LABEL: lab_id, **{f"harness.{k}": str(v) for k, v in extra.items()}}

    # ----------------------------------------------------------------- create
    def create(self, topology: Topology, ssh: bool = False, steps: Steps | None = None) -> Lab:
        from provisioners.image import build_docker_image
        steps = steps or Steps()
        image = self.image or build_docker_image(self.client, steps=steps)
        lab_id = new_lab_id(topology.name)
        try:
            hosts = {spec.name: DockerHost(spec, lab_id, self) for spec in topology.hosts.values()}
            with steps.step(f"{len(topology.networks)} internal docker network(s)"):
                scratch = self._make_networks(lab_id, topology)
            with steps.step(f"{len(hosts)} containers from {image}"):
                with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
                    list(pool.map(lambda ih: self._make_container(
                        lab_id, topology, image, ih[1], ih[0], scratch), enumerate(hosts.values())))
            with steps.step("boot: links wired, supervisord on every host"):
                with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
                    list(pool.map(lambda h: h.start(), hosts.values()))
            ssh_hosts = [hosts[name] for name in lab_ssh.wanted(topology, ssh)]
            if ssh_hosts:
                with steps.step(f"sshd on {len(ssh_hosts)} host(s)"):
                    lab_ssh.start_sshd(self.ssh_dir(lab_id), lab_id, ssh_hosts)
        except BaseException:
            self.destroy(lab_id)
            raise
        return Lab(lab_id, topology, self, hosts)

    def _make_networks(self, lab_id: str, topology: Topology) -> dict[str, ipaddress.IPv4Network]:
        """One internal bridge per topology network, each on a free scratch /24."""
        from docker.types import IPAMConfig, IPAMPool
        scratch = {}
        for i, net in enumerate(topology.networks):
            labels = self._labels(lab_id, network=net, **procs.Owner.me().fields())
            if i == 0:  # the lab's record lives on its first network
                labels["harness.topology"] = json.dumps(topology.to_dict())
            for _ in range(20):  # another lab may take the same /24 meanwhile
                subnet = self._free_scratch_subnet()
                name = f"{PREFIX}{lab_id}-{net}"
                try:
                    if self.engine == "podman":
                        self._create_podman_network(name, subnet, labels)
                    else:
                        self.client.networks.create(
                            name, driver="bridge", internal=True, labels=labels,
                            check_duplicate=True,
                            options={"com.docker.network.bridge.inhibit_ipv4": "true"},
                            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]))
                    scratch[net] = subnet
                    break
                except self._docker.errors.APIError as exc:
                    # dockerd: "Pool overlaps ..."; podman: "subnet ... is already used"
                    if "overlap" not in str(exc) and "already used" not in str(exc):
                        raise
            else:
                raise RuntimeError(f"no free scratch subnet in {SCRATCH_POOL} for network {net}")
        return scratch

    def _libpod(self, method: str, path: str, **kwargs):
        """A call to podman's own API (beside the docker-compatible one, same socket)."""
        api = self.client.api
        resp = api.request(method, f"{api.base_url}/v4.0.0/libpod{path}", timeout=api.timeout,
                           **kwargs)
        api._raise_for_status(resp)
        return resp.json()

    def _create_podman_network(self, name: str, subnet, labels: dict) -> None:
        """podman's own API (the compat one cannot turn DNS off): internal,
        no DNS server, hence no gateway address on the machine's bridge."""
        self._libpod("POST", "/networks/create", json={
            "name": name, "driver": "bridge", "internal": True, "dns_enabled": False,
            "labels": labels, "subnets": [{"subnet": str(subnet)}]})

    def bridge_name(self, network) -> str:
        """The machine's bridge device of a lab network (a docker SDK Network)."""
        if self.engine == "podman":  # podman numbers its bridges itself
            return self._libpod("GET", f"/networks/{network.name}/json")["network_interface"]
        return f"br-{network.id[:12]}"

    def _free_scratch_subnet(self) -> ipaddress.IPv4Network:
        used = {cfg.get("Subnet") for n in self.client.api.networks()
                for cfg in (n.get("IPAM") or {}).get("Config") or []}
        for subnet in SCRATCH_POOL.subnets(new_prefix=24):
            if str(subnet) not in used:
                return subnet
        raise RuntimeError(f"every /24 of {SCRATCH_POOL} is taken by docker networks")

    def _make_container(self, lab_id, topology, image, host: DockerHost, index: int, scratch):
        nets = list(host.spec.addresses)
        engine_addr = {n: str(scratch[n][index + 2]) for n in nets}
        links = []
        for net in nets:
            addrs = [f"{a}/{topology.networks[net].cidr(fam).prefixlen}"
                     for fam, a in host.spec.addresses[net].items()]
            links.append(f"{engine_addr[net]} {net} {' '.join(addrs)}")
        api = self.client.api
        binds = {}
        if self.shared_filesystem:
            host.run_dir.mkdir(parents=True, exist_ok=True)
            binds[str(host.run_dir)] = {"bind": "/run", "mode": "rw"}
            # the real components (harness artifacts), where the kubernetes part looks for them
            artifacts_root = artifacts_store.root()
            if artifacts_root.is_dir():
                binds[str(artifacts_root)] = {"bind": str(artifacts_root), "mode": "ro"}
        first = f"{PREFIX}{lab_id}-{nets[0]}" if nets else None
        engine_specific = {}
        if self.engine == "podman":
            engine_specific["ulimits"] = [self._docker.types.Ulimit(name=k, soft=v, hard=v)
                                          for k, v in PODMAN_ULIMITS.items()]
        # a cgroup namespace of its own: the host's kubelet and containerd see
        # the container's cgroup as their root (what a kind node has)
        host_config = api.create_host_config(
            binds=binds, tmpfs={"/tmp": ""}, network_mode=first or "none", cgroupns="private",
            # kubelet reads the kernel log (OOM kills); an unprivileged /dev lacks it
            devices=["/dev/kmsg:/dev/kmsg:r"],
            **self.privileges(), **engine_specific)
        if not host_config.get("Privileged"):
            # what the CLI's `--security-opt systempaths=unconfined` sends
            host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        networking = api.create_networking_config(
            {first: api.create_endpoint_config(ipv4_address=engine_addr[nets[0]])}) if nets else None
        created = api.create_container(
            image, name=host.container_name, hostname=host.name, detach=True,
            # containerd's overlayfs snapshots cannot have an overlay as their upper dir:
            # an anonymous volume (a plain directory), removed with the container
            volumes=[CONTAINERD_ROOT],
            labels=self._labels(lab_id, host=host.name), host_config=host_config,
            networking_config=networking)
        container = self.client.containers.get(created["Id"])
        for net in nets[1:]:
            self.client.networks.get(f"{PREFIX}{lab_id}-{net}").connect(
                container, ipv4_address=engine_addr[net])
        container.put_archive("/etc", tar_of({
            "harness/links": "\n".join(links) + "\n",
            "harness/hosts": etc_hosts(topology),
            "harness/hostname": host.name + "\n",
            "machine-id": uuid.uuid4().hex + "\n"}))

    # ------------------------------------------------------- find and remove
    def _networks(self, lab_id: str | None = None) -> list:
        return self.client.networks.list(filters={"label": f"{LABEL}={lab_id}" if lab_id else LABEL})

    def _record(self, lab_id: str) -> dict | None:
        for net in self._networks(lab_id):
            labels = net.attrs.get("Labels") or {}
            if "harness.topology" in labels:
                return labels
        return None

    def topology_of(self, lab_id: str) -> Topology:
        labels = self._record(lab_id)
        if labels is None:
            raise LookupError(f"no docker lab {lab_id!r} on this engine "
                              "(`harness status` lists the labs)")
        return from_record(json.loads(labels["harness.topology"]), source=f"lab {lab_id}")

    def attach(self, lab_id: str) -> Lab:
        topology = self.topology_of(lab_id)
        return Lab(lab_id, topology, self,
                   {s.name: DockerHost(s, lab_id, self) for s in topology.hosts.values()})

    def detach(self, lab_id: str) -> None:
        if self._record(lab_id) is None:
            raise LookupError(f"no docker lab {lab_id!r}")
        self.client.volumes.create(f"{PREFIX}{lab_id}-detached",
                                   labels=self._labels(lab_id, detached=1))

    def destroy(self, lab_id: str) -> None:
        if not LAB_ID.match(lab_id):
            raise LookupError(f"{lab_id!r} is not a lab id")
        selector = {"label": f"{LABEL}={lab_id}"}
        containers = self.client.containers.list(all=True, filters=selector)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda c: c.remove(force=True, v=True), containers))
        for net in self._networks(lab_id):
            net.remove()
        for vol in self.client.volumes.list(filters=selector):
            vol.remove(force=True)
        shutil.rmtree(self.lab_run_dir(lab_id), ignore_errors=True)

    def list(self) -> list[LabRecord]:
        ids = {(n.attrs.get("Labels") or {}).get(LABEL) for n in self._networks()}
        ids |= {c.labels.get(LABEL) for c in self.client.containers.list(
            all=True, filters={"label": LABEL})}
        detached = {v.attrs["Labels"].get(LABEL) for v in self.client.volumes.list(
            filters={"label": "harness.detached"})}
        records = []
        for lab_id in sorted(i for i in ids if i and LAB_ID.match(i)):
            labels = self._record(lab_id) or {}
            topo = json.loads(labels.get("harness.topology", "{}"))
            owner = procs.Owner.from_fields(labels, prefix="harness.")
            hosts = [h["name"] for h in topo.get("hosts", [])]
            found = {c.labels.get("harness.host") for c in self.client.containers.list(
                all=True, filters={"label": f"{LABEL}={lab_id}"})}
            records.append(LabRecord(
                id=lab_id, provisioner=self.name, topology=topo.get("name", "?"),
                owner_pid=None if lab_id in detached else owner.pid, owner_alive=owner.alive(),
                hosts=hosts, complete=bool(hosts) and set(hosts) <= found))
        return records


#: capability numbers as in linux/capability.h (those docker knows by name)
CAPABILITIES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
                "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK "
                "IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT "
                "SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE "
                "AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND "
                "AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split()


def missing_capabilities() -> list[str]:
    """Capabilities absent from this process's bounding set."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
            return [name for bit, name in enumerate(CAPABILITIES) if not bounding >> bit & 1]
    return []


def tar_of(files: dict[str, str]) -> bytes:
    """A tar archive of small text files (for put_archive)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class PodmanProvisioner(DockerProvisioner):
    """The docker provisioner on podman's docker-compatible socket
    (`.ci/start-daemons podman`); another socket by base_url or PODMAN_HOST."""
    name = "podman"

    @staticmethod
    def default_base_url() -> str:
        return os.environ.get("PODMAN_HOST", PODMAN_SOCKET)
