"""sshd on lab hosts (netns and docker), so testinfra's ssh:// and
paramiko:// backends reach a lab host exactly as they reach a VM.

A host's sshd listens inside the host; the client reaches it through a
ProxyCommand that connects from inside that host (`nsenter` for a netns
host, `docker exec` for a container, like `kubectl port-forward`), so
nothing of the lab is exposed on the machine. The lab's key and the ssh
config naming every host live in the provisioner's `ssh_dir(lab_id)`.
"""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from harness.lab import templates
from harness.lab.collectors import VersionProbe
from harness.lab.host import HOST_BIN_DIR
from harness.model.topology import Topology
from harness.lab.wait import wait_until

VERSION_PROBES = [VersionProbe("sshd", "sshd", "sshd -V 2>&1 || true")]
SSHD_CONFIG = templates.render(Path(__file__).parent, "sshd_config.j2", bin_dir=HOST_BIN_DIR)


class SshAccess:
    """For Host classes that can run sshd: they give `ssh_proxy_argv()`
    (a command whose stdin/stdout is a TCP connection to the host's port 22)
    and their provisioner gives `ssh_dir(lab_id)`."""

    def ssh_proxy_argv(self) -> list[str]:
        raise NotImplementedError

    def ssh_config(self) -> Path:
        """The lab's ssh config, which names this host if it runs sshd."""
        config = self.provisioner.ssh_dir(self.lab_id) / "config"
        if not config.exists() or f"Host {self.name}\n" not in config.read_text():
            raise LookupError(f"host {self.name} has no sshd (use `ssh: true` or --ssh)")
        return config

    def ssh_argv(self) -> list[str]:
        """The ssh command line that reaches this host from this machine."""
        return ["ssh", "-F", str(self.ssh_config()), self.name]

    def ssh_testinfra(self, backend: str = "ssh"):
        """A testinfra Host reaching this host through its sshd (backend ssh or paramiko)."""
        import testinfra
        return testinfra.get_host(f"{backend}://{self.name}", ssh_config=str(self.ssh_config()))


def wanted(topology: Topology, ssh: bool) -> list[str]:
    """The hosts that get sshd: all (--ssh, `ssh: true` at the top) or those marked."""
    return [h.name for h in topology.hosts.values() if ssh or topology.ssh or h.ssh]


def lab_key(ssh_dir: Path, lab_id: str) -> Path:
    key = ssh_dir / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"harness-{lab_id}",
                        "-f", str(key)], check=True)
    return key


def start_sshd(ssh_dir: Path, lab_id: str, hosts: list) -> Path:
    """Run sshd on the hosts; return the ssh config that reaches them by name."""
    key = lab_key(ssh_dir, lab_id)
    public = key.with_suffix(".pub").read_text()
    entries = []  # per host: name, proxy_command
    for host in hosts:
        host.succeed("mkdir -p /etc/ssh/harness /run/sshd && chmod 700 /etc/ssh/harness && "
                     "test -f /etc/ssh/harness/ssh_host_ed25519_key || "
                     "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/harness/ssh_host_ed25519_key")
        host.put_file("/etc/ssh/harness/sshd_config", SSHD_CONFIG)
        host.put_file("/etc/ssh/harness/authorized_keys", public, mode=0o600)
        host.succeed("/usr/sbin/sshd -t -f /etc/ssh/harness/sshd_config")
        host.service("sshd").define("/usr/sbin/sshd -D -e -f /etc/ssh/harness/sshd_config")
        entries.append({"name": host.name, "proxy_command": shlex.join(host.ssh_proxy_argv())})
    config = ssh_dir / "config"
    config.write_text(templates.render(Path(__file__).parent, "ssh_config.j2", hosts=entries, key=key))
    for host in hosts:
        wait_until(lambda h=host: h.listening(22), f"sshd on {host.name}", 15, interval=0.05)
    return config
