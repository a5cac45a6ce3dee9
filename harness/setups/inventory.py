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

A host is an SshHost: the Host core only (commands, files), through the
`ssh` client; no crash, block or supervisor: a customer's host is never
faulted. A bad inventory is one InventoryError naming the file and the key.
"""
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.lab.host import CommandResult, Host
from harness.model.setups import KNOWN_ROLES

INVENTORY_KEYS = {"setup", "backend", "user", "key", "ssh_config", "hosts"}
HOST_KEYS = {"roles", "address", "user", "key", "ssh_config", "port"}
BACKENDS = ("ssh", "paramiko")
CONNECT_TIMEOUT_S = 10


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

    def argv(self) -> list[str]:
        """The ssh command line up to the remote command."""
        argv = ["ssh", "-F", self.ssh_config or "/dev/null", "-o", "BatchMode=yes",
                "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
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
    """A host reached with the ssh client: the Host core, nothing more."""

    def __init__(self, spec, lab_id: str, ssh: SshAddress, backend: str = "ssh"):
        super().__init__(spec, lab_id)
        self.ssh, self.backend = ssh, backend

    def exec(self, argv, input=None, timeout=60) -> CommandResult:
        stdin = {"input": input} if isinstance(input, bytes) else {"stdin": input or subprocess.DEVNULL}
        result = subprocess.run([*self.ssh.argv(), "--", shlex.join(argv)], capture_output=True,
                                timeout=timeout, **stdin)
        return CommandResult(self.name, shlex.join(argv), result.returncode,
                             result.stdout.decode(errors="surrogateescape"),
                             result.stderr.decode(errors="replace"))

    def shell_argv(self) -> list[str]:
        return self.ssh.argv()

    def testinfra_backend(self):
        """testinfra's own ssh or paramiko backend for this host."""
        import testinfra
        return testinfra.get_host(self.ssh.url(self.backend), ssh_config=self.ssh.ssh_config,
                                  ssh_identity_file=self.ssh.key).backend


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
        if not isinstance(found, list) or not found or not set(found) <= set(KNOWN_ROLES):
            raise error(f"{where}.roles", f"a list of roles among {', '.join(KNOWN_ROLES)}")
        port = entry.get("port")
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise error(f"{where}.port", "must be a port number")

        def file(key: str) -> str | None:
            value = entry.get(key, data.get(key))
            return None if value is None else str((base / Path(value).expanduser()))
        roles[str(name)] = tuple(found)
        ssh[str(name)] = SshAddress(str(entry.get("address", name)), entry.get("user", data.get("user")),
                                    file("key"), file("ssh_config"), port)
    return Inventory(source, data.get("setup"), backend, roles, ssh)


def write(path: Path, hosts: dict[str, tuple[tuple[str, ...], str]], key: str, ssh_config: str,
          setup: str | None) -> None:
    """An inventory file: host name -> (roles, address), one key and ssh config for all."""
    path.write_text(yaml.safe_dump({
        **({"setup": setup} if setup else {}), "backend": "ssh", "user": "root", "key": key,
        "ssh_config": ssh_config,
        "hosts": {name: {"roles": list(roles), "address": address}
                  for name, (roles, address) in hosts.items()}}, sort_keys=False))
