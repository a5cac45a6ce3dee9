"""kubeadm's stacked etcd: one member per control plane, a static pod
(/etc/kubernetes/manifests/etcd.yaml) that the control plane's kubelet runs,
data in /var/lib/etcd. The etcd suite drives it as it drives etcd under
supervisord (EtcdCluster): etcdctl on the member's host with kubeadm's
healthcheck client certificate.

A member is stopped as an admin stops a static pod's container for a
while: the node's kubelet stopped, then the etcd process; started again by
starting the kubelet, which restarts the exited container at once. Moving
the manifest out and back does not do: the kubelet restarts a static pod of
the same UID only once it has deleted the old mirror pod through the API,
and with two members down there is no API (etcd quorum lost): the kubelets
of both members wait for each other, for minutes (seen on kubelet 1.34:
"Failed deleting a mirror pod ... Timeout" every 34 s, etcd not restarted).
"""
from __future__ import annotations

import shlex

import yaml

from harness.setups.parts.etcd.cluster import EtcdCluster

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DATA_DIR = "/var/lib/etcd"
PKI = "/etc/kubernetes/pki/etcd"
#: a member is down once nothing listens on its peer port
PEER_PORT_CLOSED = "! ss -Hltn 'sport = :2380' | grep -q ."
#: the etcd process of this host's network namespace (the lab's hosts share one pid namespace)
KILL_ETCD = ("for pid in $(ss -Hltnp 'sport = :2380' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); "
             "do kill \"$pid\"; done")


class StackedEtcd(EtcdCluster):
    ca_file, cert_file, key_file = (f"{PKI}/ca.crt", f"{PKI}/healthcheck-client.crt",
                                    f"{PKI}/healthcheck-client.key")

    def __repr__(self) -> str:
        return f"<kubeadm stacked etcd {', '.join(self.members)}>"

    def start(self, name: str) -> None:
        self.member(name).host.service("kubelet").start()

    def stop(self, name: str) -> None:
        host = self.member(name).host
        host.service("kubelet").stop()
        host.succeed(KILL_ETCD)
        host.wait_until_succeeds(PEER_PORT_CLOSED, timeout=60)

    def wipe(self, name: str) -> None:
        self.stop(name)
        self.member(name).host.succeed(shlex.join(["rm", "-rf", DATA_DIR]))

    def define(self, name: str, state: str = "new") -> None:
        """The member's manifest, as kubeadm's join writes it for a member added
        to a running cluster: --initial-cluster-state `state`, every member in
        --initial-cluster; then started."""
        host = self.member(name).host
        self.stop(name)
        pod = yaml.safe_load(host.get_file(MANIFEST))
        flags = {"--initial-cluster-state": state, "--initial-cluster": ",".join(
            f"{m.name}={m.peer_url}" for m in self.members.values())}
        container = pod["spec"]["containers"][0]
        container["command"] = [arg for arg in container["command"]
                                 if arg.split("=", 1)[0] not in flags] + [
            f"{flag}={value}" for flag, value in flags.items()]
        host.put_file(MANIFEST, yaml.safe_dump(pod, sort_keys=False), mode=0o600)
        self.start(name)
