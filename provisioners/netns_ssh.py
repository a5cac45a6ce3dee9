"""sshd on netns lab hosts, so testinfra's ssh:// and paramiko:// backends
reach a lab host exactly as they reach a VM.

The lab host's sshd listens inside the host's namespace; the client reaches
it through a ProxyCommand that connects from inside that namespace (like
`kubectl port-forward`), so nothing of the lab is exposed on the machine.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from harness.wait import wait_until

if TYPE_CHECKING:
    from provisioners.netns import NetnsHost, NetnsProvisioner

SSHD_CONFIG = """\
# written by the harness
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey /etc/ssh/harness/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/harness/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def lab_key(provisioner: NetnsProvisioner, lab_id: str) -> Path:
    key = provisioner.lab_dir(lab_id) / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"harness-{lab_id}",
                        "-f", str(key)], check=True)
    return key


def ssh_config_path(provisioner: NetnsProvisioner, lab_id: str) -> Path:
    return provisioner.lab_dir(lab_id) / "ssh" / "config"


def start_sshd(provisioner: NetnsProvisioner, lab_id: str, hosts: list[NetnsHost]) -> Path:
    key = lab_key(provisioner, lab_id)
    public = key.with_suffix(".pub").read_text()
    entries = []
    for host in hosts:
        host.succeed("mkdir -p /etc/ssh/harness /run/sshd && chmod 700 /etc/ssh/harness && "
                     "test -f /etc/ssh/harness/ssh_host_ed25519_key || "
                     "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/harness/ssh_host_ed25519_key")
        host.put_file("/etc/ssh/harness/sshd_config", SSHD_CONFIG)
        host.put_file("/etc/ssh/harness/authorized_keys", public, mode=0o600)
        host.succeed("/usr/sbin/sshd -t -f /etc/ssh/harness/sshd_config")
        host.service("sshd").define("/usr/sbin/sshd -D -e -f /etc/ssh/harness/sshd_config")
        proxy = " ".join(host.nsenter() + ["socat", "STDIO", "TCP:127.0.0.1:22"])
        entries.append(f"Host {host.name}\n  HostName {host.name}\n  User root\n"
                       f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
                       f"  ProxyCommand {proxy}\n  StrictHostKeyChecking no\n"
                       f"  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    config = ssh_config_path(provisioner, lab_id)
    config.write_text("\n".join(entries))
    for host in hosts:
        wait_until(lambda h=host: h.listening(22), f"sshd on {host.name}", 15, interval=0.05)
    return config
