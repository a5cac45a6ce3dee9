"""kubeadm's stacked etcd: one member per control plane, a static pod
(/etc/kubernetes/manifests/etcd.yaml) that the control plane's kubelet runs,
data in /var/lib/etcd. The etcd suite drives it as it drives etcd under
supervisord (EtcdCluster): etcdctl on the member's host with kubeadm's
healthcheck client certificate.

A member is stopped with nothing to restart it: the node's kubelet paused
(SIGSTOP), then the etcd process killed; it is started by resuming the
kubelet, which restarts the exited container at once from what it already
knows. Neither moving the manifest out and back nor stopping the kubelet
does: a kubelet restarts a static pod of the same UID only once it has
deleted the old mirror pod through the API, and a kubelet started afresh
runs no pod before it has heard from the API; with two members down there
is no API (etcd quorum lost), and the kubelets of both members wait for
each other (seen on kubelet 1.34: etcd not restarted for minutes).
"""
from __future__ import annotations

import shlex

import yaml

from harness.setups.parts.etcd.cluster import EtcdCluster, etcdctl_collectors

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DATA_DIR = "/var/lib/etcd"
PKI = "/etc/kubernetes/pki/etcd"
#: a member is down once nothing listens on its peer port
PEER_PORT_CLOSED = "! ss -Hltn 'sport = :2380' | grep -q ."
#: the etcd process of this host's network namespace (the lab's hosts share one pid namespace)
KILL_ETCD = ("for pid in $(ss -Hltnp 'sport = :2380' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); "
             "do kill \"$pid\"; done")
#: the bundle asks the member its static pod's manifest advertises, with the
#: certificate kubeadm made for health checks
COLLECTORS = etcdctl_collectors(
    MANIFEST,
    f"\"$(sed -n 's/.*--advertise-client-urls=\\([^ \"]*\\).*/\\1/p' {MANIFEST} | head -n1)\"",
    f"--cacert {PKI}/ca.crt --cert {PKI}/healthcheck-client.crt --key {PKI}/healthcheck-client.key")


def signal_kubelet(host, signal: str) -> None:
    """Pause (STOP) or resume (CONT) the host's kubelet, if it runs."""
    pid = host.service("kubelet").pid
    if pid:
        host.succeed(shlex.join(["kill", f"-{signal}", str(pid)]))


class StackedEtcd(EtcdCluster):
    ca_file, cert_file, key_file = (f"{PKI}/ca.crt", f"{PKI}/healthcheck-client.crt",
                                    f"{PKI}/healthcheck-client.key")
    #: the kubelet restarts a container it saw exit after its crash-loop
    #: back-off (10 s, doubled at each exit within minutes): a member stopped
    #: the second time in a few minutes is back 10-20 s after its start
    healthy_within = 60

    def __repr__(self) -> str:
        return f"<kubeadm stacked etcd {', '.join(self.members)}>"

    def start(self, name: str) -> None:
        signal_kubelet(self.member(name).host, "CONT")

    def stop(self, name: str) -> None:
        host = self.member(name).host
        signal_kubelet(host, "STOP")
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
