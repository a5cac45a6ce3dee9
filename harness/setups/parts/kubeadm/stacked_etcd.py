"""kubeadm's stacked etcd: one member per control plane, a static pod
(/etc/kubernetes/manifests/etcd.yaml) that the control plane's kubelet runs,
data in /var/lib/etcd. The etcd suite drives it as it drives etcd under
supervisord (EtcdCluster): etcdctl on the member's host with kubeadm's
healthcheck client certificate; a member is stopped and started the way an
admin does it with a static pod, by moving its manifest out of the
manifests directory and back.
"""
from __future__ import annotations

import shlex

import yaml

from harness.lab.host import CommandFailed
from harness.setups.parts.etcd.cluster import EtcdCluster

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
#: where a stopped member's manifest waits (outside the directory kubelet watches)
PARKED = "/etc/kubernetes/etcd.yaml.stopped"
DATA_DIR = "/var/lib/etcd"
PKI = "/etc/kubernetes/pki/etcd"
#: a member is down once nothing listens on its peer port
PEER_PORT_CLOSED = "! ss -Hltn 'sport = :2380' | grep -q ."


class StackedEtcd(EtcdCluster):
    ca_file, cert_file, key_file = (f"{PKI}/ca.crt", f"{PKI}/healthcheck-client.crt",
                                    f"{PKI}/healthcheck-client.key")

    def __repr__(self) -> str:
        return f"<kubeadm stacked etcd {', '.join(self.members)}>"

    def start(self, name: str) -> None:
        host = self.member(name).host
        host.succeed(f"[ -f {MANIFEST} ] || mv {PARKED} {MANIFEST}")

    def stop(self, name: str) -> None:
        host = self.member(name).host
        host.succeed(f"[ ! -f {MANIFEST} ] || mv {MANIFEST} {PARKED}")
        host.wait_until_succeeds(PEER_PORT_CLOSED, timeout=60)

    def wipe(self, name: str) -> None:
        self.stop(name)
        self.member(name).host.succeed(shlex.join(["rm", "-rf", DATA_DIR]))

    def define(self, name: str, state: str = "new") -> None:
        """The member's manifest, as kubeadm's join writes it for a member added
        to a running cluster: --initial-cluster-state `state`, every member in
        --initial-cluster; then started."""
        host = self.member(name).host
        found = host.run(f"cat {MANIFEST} 2>/dev/null || cat {PARKED}")
        if not found.ok:
            raise CommandFailed(found, f"(no etcd manifest on {name})")
        pod = yaml.safe_load(found.stdout)
        flags = {"--initial-cluster-state": state, "--initial-cluster": ",".join(
            f"{m.name}={m.peer_url}" for m in self.members.values())}
        container = pod["spec"]["containers"][0]
        container["command"] = [arg for arg in container["command"]
                                 if arg.split("=", 1)[0] not in flags] + [
            f"{flag}={value}" for flag, value in flags.items()]
        host.put_file(PARKED, yaml.safe_dump(pod, sort_keys=False), mode=0o600)
        host.succeed(f"rm -f {MANIFEST}")
        self.start(name)
