"""An ssh inventory of a cluster the harness did not make: its hosts, their
roles in the seed's terms, how ssh reaches them, and which setup's
promises to check.

  setup: fcio-k8s                 # optional: whose promises (default: the API and hosts only)
  backend: ssh                    # testinfra backend for host.testinfra: ssh | paramiko
  user: root                      # defaults for every host
  key: ~/.ssh/id_ed25519
  ssh_config: ./ssh_config
  hosts:
    master: {roles: [master], address: 192.168.21.10}
    node1: {roles: [node], address: 192.168.21.1, user: admin, port: 2222}

A host is an SshHost: the Host core (commands, files) through the `ssh`
client, and processes of the run's own tied to its ssh session
(harness.setups.ssh_processes: `popen`, `service`), gone when the run ends;
no crash, block or supervisor: a customer's host is never faulted. `setup`
names a setup of the catalogue (harness.setups.promises). A bad inventory
is one InventoryError naming the file and the key.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.lab.host import CommandResult, Host
from harness.model.setups import KNOWN_ROLES
from harness.setups import promises
from harness.setups.ssh_processes import ProcessService, Tied

INVENTORY_KEYS = {"setup", "backend", "user", "key", "ssh_config", "hosts"}
HOST_KEYS = {"roles", "address", "user", "key", "ssh_config", "port"}
BACKENDS = ("ssh", "paramiko")
CONNECT_TIMEOUT_S = 10
#: seconds a shared connection outlives its last command: the run's close
#: ends it at once; after a kill -9 it ends by itself this long after
CONTROL_PERSIST_S = 30


class InventoryError(ValueError):
    pass


@dataclass(frozen=True)
class SshAddress:
    """How ssh reaches one host."""
    address: str
    user: str | None
    key: str | None
    ssh_config: str | None
    port: int | None

    def argv(self, control_dir: str | None = None) -> list[str]:
        """The ssh command line up to the remote command; with `control_dir`,
        one connection to the host is shared by every command (ControlMaster,
        its socket in that directory), instead of a handshake per command."""
        argv = ["ssh", "-F", self.ssh_config or "/dev/null", "-o", "BatchMode=yes",
                "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
        if control_dir:
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C",
                     "-o", f"ControlPersist={CONTROL_PERSIST_S}"]
        if self.key:
            argv += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if self.user:
            argv += ["-l", self.user]
        if self.port:
            argv += ["-p", str(self.port)]
        return [*argv, self.address]

    def url(self, backend: str) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{backend}://{user}{self.address}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class Inventory:
    source: str
    setup: str | None
    backend: str
    roles: dict[str, tuple[str, ...]]
    ssh: dict[str, SshAddress]


class SshHost(Host):
    """A host reached with the ssh client: the Host core, and processes of
    the run's own that end with it."""

    def __init__(self, spec, lab_id: str, ssh: SshAddress, backend: str = "ssh"):
        super().__init__(spec, lab_id)
        self.ssh, self.backend = ssh, backend
        self.tied = Tied()
        #: the run's services here: name -> command, name -> its ssh session
        self.commands: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        #: where the run's files on the host go (removed by close)
        self.run_dir = f"/tmp/harness-{lab_id}"
        #: the socket of this run's one connection to the host (its commands
        #: share it; the processes tied to a session keep their own)
        self.control_dir = tempfile.mkdtemp(prefix=f"harness-ssh-{lab_id}-")

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        stdin = {"input": input} if isinstance(input, bytes) else {"stdin": input or subprocess.DEVNULL}
        result = subprocess.run([*self.ssh.argv(self.control_dir), "--", shlex.join(argv)],
                                capture_output=True, timeout=timeout, **stdin)
        return CommandResult(self.name, shlex.join(argv), result.returncode,
                             result.stdout.decode(errors="surrogateescape"),
                             result.stderr.decode(errors="replace"))

    def shell_argv(self) -> list[str]:
        return self.ssh.argv()

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """argv on the host, streaming; it ends when the Popen's ssh does."""
        return self.tied.popen(self.ssh.argv(), argv, **kwargs)

    def service(self, name: str) -> ProcessService:
        return ProcessService(self, name)

    def services(self) -> dict[str, str]:
        return {name: self.service(name).status() for name in self.commands}

    def close(self) -> None:
        """End every process the run started here and remove its files."""
        for name in list(self.processes):
            self.service(name).stop()
        self.tied.end_all()
        self.run(f"rm -rf {shlex.quote(self.run_dir)}")
        self.disconnect()

    def disconnect(self) -> None:
        """End the shared connection (the run's close, or an attach that failed)."""
        subprocess.run([*self.ssh.argv(self.control_dir)[:-1], "-O", "exit", self.ssh.address],
                       capture_output=True, timeout=CONNECT_TIMEOUT_S)
        shutil.rmtree(self.control_dir, ignore_errors=True)

    def testinfra_backend(self):
        """testinfra's own ssh or paramiko backend for this host."""
        import testinfra
        shared = {"controlpath": f"{self.control_dir}/%C", "controlpersist": CONTROL_PERSIST_S} \
            if self.backend == "ssh" else {}
        return testinfra.get_host(self.ssh.url(self.backend), ssh_config=self.ssh.ssh_config,
                                  ssh_identity_file=self.ssh.key, **shared).backend


def load(path: str | Path) -> Inventory:
    source = str(path)

    def error(key: str, message: str) -> InventoryError:
        return InventoryError(f"inventory {source}: {key}: {message}")
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise error("(file)", exc.strerror or str(exc)) from None
    except yaml.YAMLError as exc:
        raise error("(yaml)", " ".join(str(exc).split())) from None
    if not isinstance(data, dict):
        raise error("(top level)", "must be a mapping with hosts")
    for key in sorted(set(data) - INVENTORY_KEYS):
        raise error(key, f"unknown key (known: {', '.join(sorted(INVENTORY_KEYS))})")
    setup = data.get("setup")
    if setup is not None:
        try:
            promises.of(str(setup))
        except promises.UnknownSetup as exc:
            raise error("setup", str(exc)) from None
    backend = data.get("backend", "ssh")
    if backend not in BACKENDS:
        raise error("backend", f"must be one of {', '.join(BACKENDS)}")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise error("hosts", "required: a mapping of host name to its roles and ssh address")
    roles, ssh = {}, {}
    base = Path(path).parent
    for name, entry in hosts.items():
        where = f"hosts.{name}"
        if not isinstance(entry, dict):
            raise error(where, "must be a mapping")
        for key in sorted(set(entry) - HOST_KEYS):
            raise error(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(HOST_KEYS))})")
        found = entry.get("roles")
        if not isinstance(found, list) or not set(found) <= set(KNOWN_ROLES):
            raise error(f"{where}.roles", f"a list of roles among {', '.join(KNOWN_ROLES)} "
                                          "([] for a host with none, as a client outside the cluster)")
        port = entry.get("port")
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise error(f"{where}.port", "must be a port number")

        def file(key: str) -> str | None:
            value = entry.get(key, data.get(key))
            return None if value is None else str((base / Path(value).expanduser()))
        roles[str(name)] = tuple(found)
        ssh[str(name)] = SshAddress(str(entry.get("address", name)), entry.get("user", data.get("user")),
                                    file("key"), file("ssh_config"), port)
    return Inventory(source, setup, backend, roles, ssh)


def write(path: Path, hosts: dict[str, tuple[tuple[str, ...], str]], key: str, ssh_config: str,
          setup: str | None) -> None:
    """An inventory file: host name -> (roles, address), one key and ssh config for all."""
    path.write_text(yaml.safe_dump({
        **({"setup": setup} if setup else {}), "backend": "ssh", "user": "root", "key": key,
        "ssh_config": ssh_config,
        "hosts": {name: {"roles": list(roles), "address": address}
                  for name, (roles, address) in hosts.items()}}, sort_keys=False))
