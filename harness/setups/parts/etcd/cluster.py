"""etcd as the setups run it: our etcd 3.6 build (harness artifacts), driven
through the real etcdctl (API v3; Debian's etcd-client, `ETCDCTL_API=3`).

- seed 003 (centos-hardway): one member on the master, configured by
  ETCD_* environment as /etc/etcd/etcd.conf does: listen on all addresses,
  advertise the master's address, ETCD_NAME.
- seed 004 (kubeadm-ha): one member per control plane, client and peer TLS
  with the certificates under /etc/kubernetes/pki/etcd, IPv6 addresses.

Seed 004's rejoin procedure is `rejoin()`: remove the member, wipe it, add it
back, start it with --initial-cluster-state existing. `rejoin_without_remove()`
is the failure the seed describes, reported with the stale member named.
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import artifacts
from harness.lab.net import bracketed
from harness.lab.collectors import Collector, VersionProbe
from harness.lab.host import CommandFailed
from harness.lab.supervisor import PROGRAM_DIR, ServiceError
from harness.lab.wait import WaitTimeout, wait_until

if TYPE_CHECKING:
    from harness.lab.host import Host

PKI_DIR = "/etc/kubernetes/pki/etcd"
DATA_ROOT = "/var/lib/etcd"
SERVICE = "etcd"
VERSION_PROBES = [VersionProbe("etcd", "etcd", "etcd --version")]


def etcdctl_collectors(definition: str, endpoints: str, tls: str) -> list[Collector]:
    """The bundle's view of an etcd cluster, asked on each member's host: the
    member list and every member's status. `definition` is the file that
    defines the member there, `endpoints` a shell word that reads its
    advertised client URL from it, `tls` etcdctl's certificate flags."""
    etcdctl = f"ETCDCTL_API=3 etcdctl --command-timeout=3s --endpoints={endpoints} {tls}"
    when = f"command -v etcdctl && [ -f {definition} ] && runs etcd"
    return [Collector("etcd-members.txt", f"{etcdctl} member list -w table", when),
            Collector("etcd-endpoints.txt", f"{etcdctl} endpoint status --cluster -w table", when)]


_DEFINITION = f"{PROGRAM_DIR}/{SERVICE}.conf"
# etcd under supervisord: its service definition's ETCD_ADVERTISE_CLIENT_URLS
# and, where the setup made a PKI, its certificates
COLLECTORS = etcdctl_collectors(
    _DEFINITION,
    f"\"$(sed -n 's/.*ETCD_ADVERTISE_CLIENT_URLS=\"\\([^\"]*\\)\".*/\\1/p' {_DEFINITION} | head -n1)\"",
    f"$([ -f {PKI_DIR}/ca.crt ] && echo --cacert {PKI_DIR}/ca.crt "
    f"--cert {PKI_DIR}/server.crt --key {PKI_DIR}/server.key)")
#: seed 004's kubeadm check-etcd gives up with "context deadline exceeded";
#: the harness's bound for a member to become healthy
HEALTHY_WITHIN_S = 20


class EtcdError(RuntimeError):
    pass


class StaleMember(EtcdError):
    """A rejoining member cannot come up because the cluster still lists it."""


@dataclass
class Member:
    name: str
    host: Host
    ip: str
    scheme: str

    @property
    def loopback(self) -> bool:
        return self.ip in ("127.0.0.1", "::1")

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{bracketed(self.ip)}:2379"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{bracketed(self.ip)}:2380"


class EtcdCluster:
    StaleMember = StaleMember  # what rejoin_without_remove raises, for suites
    #: on each member's host with TLS: the CA clients trust, and a client certificate and key
    ca_file, cert_file, key_file = f"{PKI_DIR}/ca.crt", f"{PKI_DIR}/server.crt", f"{PKI_DIR}/server.key"
    #: seconds a started member may take to be healthy
    healthy_within: float = HEALTHY_WITHIN_S

    def __init__(self, members: list[Member], tls: bool, token: str):
        self.members = {m.name: m for m in members}
        self.tls, self.token = tls, token

    def __repr__(self) -> str:
        return f"<etcd {'TLS ' if self.tls else ''}cluster {', '.join(self.members)}>"

    @property
    def client_urls(self) -> list[str]:
        """What an apiserver is given as --etcd-servers."""
        return [m.client_url for m in self.members.values()]

    def member(self, name: str) -> Member:
        try:
            return self.members[name]
        except KeyError:
            raise LookupError(f"no etcd member {name!r} (members: {', '.join(self.members)})") from None

    # -- running members -----------------------------------------------------
    def _environment(self, m: Member, state: str) -> dict[str, str]:
        env = {
            "ETCD_NAME": m.name, "ETCD_DATA_DIR": f"{DATA_ROOT}/{m.name}",
            # seed 003: "tell it to listen on all interfaces"; a loopback member listens there only
            "ETCD_LISTEN_CLIENT_URLS": m.client_url if m.loopback else
            f"{m.scheme}://{'[::]' if ':' in m.ip else '0.0.0.0'}:2379",
            "ETCD_ADVERTISE_CLIENT_URLS": m.client_url,
            "ETCD_LISTEN_PEER_URLS": m.peer_url, "ETCD_INITIAL_ADVERTISE_PEER_URLS": m.peer_url,
            "ETCD_INITIAL_CLUSTER": ",".join(f"{o.name}={o.peer_url}" for o in self.members.values()),
            "ETCD_INITIAL_CLUSTER_STATE": state, "ETCD_INITIAL_CLUSTER_TOKEN": self.token,
        }
        if self.tls:
            env.update({
                "ETCD_CERT_FILE": f"{PKI_DIR}/server.crt", "ETCD_KEY_FILE": f"{PKI_DIR}/server.key",
                "ETCD_TRUSTED_CA_FILE": f"{PKI_DIR}/ca.crt", "ETCD_CLIENT_CERT_AUTH": "true",
                "ETCD_PEER_CERT_FILE": f"{PKI_DIR}/server.crt", "ETCD_PEER_KEY_FILE": f"{PKI_DIR}/server.key",
                "ETCD_PEER_TRUSTED_CA_FILE": f"{PKI_DIR}/ca.crt", "ETCD_PEER_CLIENT_CERT_AUTH": "true",
            })
        return env

    def define(self, name: str, state: str = "new") -> None:
        m = self.member(name)
        service = m.host.service(SERVICE)
        service.define(str(artifacts.binary("etcd")), environment=self._environment(m, state), autostart=True)
        service.start()  # an unchanged definition is not restarted by define()

    def start(self, name: str) -> None:
        self.member(name).host.service(SERVICE).start()

    def stop(self, name: str) -> None:
        self.member(name).host.service(SERVICE).stop()

    def wipe(self, name: str) -> None:
        m = self.member(name)
        m.host.service(SERVICE).stop()
        m.host.succeed(shlex.join(["rm", "-rf", f"{DATA_ROOT}/{name}"]))

    # -- etcdctl ------------------------------------------------------------------
    def etcdctl(self, args: list[str], via: str | None = None, endpoints: list[str] | None = None,
                timeout: float = 10):
        """Run etcdctl with `args` on a member's host (the first member by default)."""
        m = self.member(via) if via else next(iter(self.members.values()))
        eps = ",".join(endpoints or [m.client_url])
        tls = (["--cacert", self.ca_file, "--cert", self.cert_file, "--key", self.key_file]
               if self.tls else [])
        return m.host.run(shlex.join(["env", "ETCDCTL_API=3", "etcdctl", f"--endpoints={eps}", *tls,
                                      "--dial-timeout=2s", "--command-timeout=3s", *args]),
                          timeout=timeout)

    def health(self, via: str | None = None) -> dict[str, bool]:
        """client URL -> healthy, for every member, as seen from `via`."""
        urls = [m.client_url for m in self.members.values()]
        out = self.etcdctl(["endpoint", "health", "-w", "json"], via=via, endpoints=urls)
        try:
            rows = json.loads(out.stdout or "[]")
        except json.JSONDecodeError:
            rows = []
        seen = {r["endpoint"]: bool(r.get("health")) for r in rows}
        return {u: seen.get(u, False) for u in urls}

    def healthy(self, via: str | None = None) -> bool:
        return all(self.health(via).values())

    def wait_healthy(self, timeout: float | None = None) -> None:
        wait_until(self.healthy, "every etcd member healthy", timeout or self.healthy_within, 0.2)

    def put(self, key: str, value: str, via: str | None = None) -> None:
        out = self.etcdctl(["put", key, "--", value], via=via)
        if not out.ok:
            raise CommandFailed(out, f"(etcd put {key})")

    def get(self, key: str, via: str | None = None) -> str | None:
        out = self.etcdctl(["get", key, "--print-value-only"], via=via)
        if not out.ok:
            raise CommandFailed(out, f"(etcd get {key})")
        return out.stdout.rstrip("\n") if out.stdout else None

    def member_list(self, via: str | None = None) -> list[dict]:
        """[{ID (hex), name, peerURLs, clientURLs}] as the cluster lists them."""
        out = self.etcdctl(["member", "list", "-w", "json"], via=via)
        if not out.ok:
            raise CommandFailed(out, "(etcd member list)")
        return [dict(m, ID=format(m["ID"], "x")) for m in json.loads(out.stdout).get("members", [])]

    def _other(self, name: str) -> str:
        return next(n for n in self.members if n != name)

    # -- seed 004: rejoin ------------------------------------------------------------
    def remove_member(self, name: str) -> None:
        """`etcdctl member remove` of `name`, retried: etcd refuses removals for
        a few seconds after a member started."""
        via = self._other(name)

        def remove():
            stale = [m for m in self.member_list(via) if m["name"] == name
                     or self.member(name).peer_url in m.get("peerURLs", [])]
            if not stale:
                return True
            out = self.etcdctl(["member", "remove", stale[0]["ID"]], via=via)
            if not out.ok:
                raise EtcdError(out.summary())
            return False
        wait_until(remove, f"etcd member {name} removed", 20, 0.5)

    def add_member(self, name: str) -> None:
        """`etcdctl member add`, retried while the cluster settles after a
        removal; refused at once with StaleMember while the peer URL is taken."""
        m, via = self.member(name), self._other(name)

        def add():
            out = self.etcdctl(["member", "add", name, f"--peer-urls={m.peer_url}"], via=via)
            if out.ok:
                return "added"
            stale = [s for s in self.member_list(via) if m.peer_url in s.get("peerURLs", [])]
            if stale:
                return stale[0]
            raise EtcdError(out.summary())
        outcome = wait_until(add, f"etcd member add {name}", 20, 0.5)
        if outcome != "added":
            raise StaleMember(
                f"etcd member {name} cannot rejoin: the cluster still lists stale member "
                f"{outcome['ID']} ({outcome.get('name') or 'unstarted'}, {m.peer_url}); "
                f"remove it first (seed 004: 'etcd server is still a member of the cluster')")

    def rejoin(self, name: str) -> float:
        """Seed 004's fix: remove the member, wipe it, add it back, start it with
        --initial-cluster-state existing; returns the seconds until all healthy."""
        start = time.monotonic()
        self.remove_member(name)
        self.wipe(name)
        self.add_member(name)
        self.define(name, state="existing")
        self.wait_healthy()
        return time.monotonic() - start

    def rejoin_without_remove(self, name: str, within: float = HEALTHY_WITHIN_S) -> None:
        """What `kubeadm join` does when the old member is still listed: wipe,
        add (refused: the peer URL is taken), start with state existing.
        Raises StaleMember naming the stale member when it does not come up
        healthy within `within` seconds."""
        self.wipe(name)
        try:
            self.add_member(name)
        except StaleMember as refused:
            try:
                # the wiped member either hangs or panics on the leader's
                # heartbeat ("tocommit(N) is out of range"): both are the failure
                self.define(name, state="existing")
                self.wait_healthy(within)
            except (WaitTimeout, ServiceError) as failure:
                raise StaleMember(f"{refused}; etcd on {name}: {str(failure).splitlines()[0]}"
                                  ) from None
            raise EtcdError(f"etcd member {name} came up although stale member was still listed")
        self.define(name, state="existing")
        self.wait_healthy(within)
