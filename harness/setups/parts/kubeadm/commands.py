"""kubeadm as seed 004 runs it, on a lab host, and what its output tells the
admin: the join command (`kubeadm token create --print-join-command`) and
the certificate key (`kubeadm init phase upload-certs --upload-certs`).

kubeadm finds no init system on these hosts: its "start the kubelet" steps
only warn, and the host's supervisord runs kubelet (templates/kubelet.sh.j2).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.lab.host import Host

#: where the first control plane keeps its `kubeadm init --config` file
CONFIG = "/etc/kubernetes/kubeadm.yaml"
#: kubeadm's own bound on a join is 4 minutes (its TLS bootstrap timeout); the harness's
TIMEOUT_S = 300
CERTIFICATE_KEY = re.compile(r"^[0-9a-f]{64}$")
#: how kubeadm announces the step it is at: "[check-etcd] Checking that the etcd cluster is healthy"
STEP_LINE = re.compile(r"^\[[\w-]+\] ")
#: what coreutils' timeout exits with when it stopped the command
TIMED_OUT = 124


class KubeadmError(RuntimeError):
    """kubeadm failed; the message carries the phase it names."""


def run(host: Host, args: list[str], timeout: float = TIMEOUT_S,
        give_up_after: float | None = None) -> str:
    """`kubeadm ARGS` on `host`; its output. A failure names kubeadm's own error
    line. With `give_up_after`, kubeadm is stopped (SIGTERM) once that many
    seconds have passed, and the error names the step it was still at (a hang
    shown without waiting for kubeadm's own, longer, timeouts)."""
    cmd = ["kubeadm", *args]
    if give_up_after is not None:
        cmd = ["timeout", f"{give_up_after:g}", *cmd]
    result = host.run(shlex.join(cmd), timeout=timeout)
    if give_up_after is not None and result.rc == TIMED_OUT:
        steps = [line for line in result.stdout.splitlines() if STEP_LINE.match(line)]
        raise KubeadmError(f"kubeadm {args[0]} on {host.name} still at "
                           f"{steps[-1] if steps else 'its first step'!r} after {give_up_after:g} s: stopped")
    if not result.ok:
        said = [line for line in (result.stderr + result.stdout).splitlines()
                if "error execution phase" in line or line.startswith("error")]
        raise KubeadmError(f"kubeadm {args[0]} on {host.name}: "
                           f"{said[-1] if said else result.summary()}")
    return result.stdout


@dataclass(frozen=True)
class JoinCommand:
    """`kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash sha256:H`
    as `--print-join-command` prints it."""
    endpoint: str
    token: str = field(repr=False)
    ca_cert_hash: str

    @classmethod
    def parse(cls, printed: str) -> JoinCommand:
        words = shlex.split(printed.strip().splitlines()[-1])
        if words[:2] != ["kubeadm", "join"] or len(words) < 3:
            raise KubeadmError(f"not a join command: {printed.strip()!r}")
        flags = dict(zip(words[3::2], words[4::2]))
        try:
            return cls(words[2], flags["--token"], flags["--discovery-token-ca-cert-hash"])
        except KeyError as missing:
            raise KubeadmError(f"the join command lacks {missing}: {printed.strip()!r}") from None

    def args(self) -> list[str]:
        return ["join", self.endpoint, "--token", self.token,
                "--discovery-token-ca-cert-hash", self.ca_cert_hash]


def print_join_command(host: Host) -> JoinCommand:
    return JoinCommand.parse(run(host, ["token", "create", "--print-join-command"], timeout=60))


def upload_certs(host: Host) -> str:
    """`kubeadm init phase upload-certs --upload-certs`: the certificate key it
    prints last. It reads the init config: with no default route here,
    kubeadm cannot guess the local API endpoint."""
    out = run(host, ["init", "phase", "upload-certs", "--upload-certs", f"--config={CONFIG}"], timeout=60)
    key = out.strip().splitlines()[-1].strip()
    if not CERTIFICATE_KEY.match(key):
        raise KubeadmError(f"upload-certs printed no certificate key: {out.strip()[-300:]!r}")
    return key


def join_control_plane(host: Host, join: JoinCommand, certificate_key: str, address: str,
                       skip: tuple[str, ...], give_up_after: float | None = None) -> str:
    """Seed 004: JOINCOMMAND --control-plane --certificate-key CERTKEY, the
    apiserver advertised on `address`."""
    return run(host, [*join.args(), "--control-plane", "--certificate-key", certificate_key,
                      "--apiserver-advertise-address", address, f"--skip-phases={','.join(skip)}"],
               give_up_after=give_up_after)


def join_worker(host: Host, join: JoinCommand, skip: tuple[str, ...]) -> str:
    return run(host, [*join.args(), f"--skip-phases={','.join(skip)}"])


def reset(host: Host, skip: tuple[str, ...] = ()) -> None:
    """`kubeadm reset --force`: the host's Kubernetes files and containers gone
    (with `skip` phases, e.g. remove-etcd-member: its etcd member stays listed)."""
    run(host, ["reset", "--force", *([f"--skip-phases={','.join(skip)}"] if skip else [])], timeout=180)
