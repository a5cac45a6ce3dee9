"""kine in front of the apiserver, as k3s embeds it (seed 001: the k3s server
"provides the Kubernetes control plane with a PostgreSQL database"): etcd's
API on 127.0.0.1:2379 of the server, every key a row of its `kine` table in
the datastore part's PostgreSQL. The apiserver is told
`--etcd-servers=http://127.0.0.1:2379` (the control plane part, given this
as its etcd).

kine connects as the datastore's user; the password is in a pgpass file
(PGPASSFILE, read by pgx), never on a command line.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import artifacts
from harness.lab.collectors import Collector, VersionProbe
from harness.setups import host_binaries
from harness.setups.parts import declares
from harness.setups.parts.datastore import postgres as pg

if TYPE_CHECKING:
    from harness.lab.host import Host

LISTEN = "127.0.0.1:2379"
PASSFILE = "/var/lib/kine/pgpass"
#: kine's metrics listen on :8080 of every address unless told otherwise
METRICS = "127.0.0.1:2381"
SERVICE = "kine"
#: the table kine keeps every key in (pkg/drivers/pgsql)
TABLE = "kine"
VERSION_PROBES = [VersionProbe("kine", "kine", "kine --version")]
#: what a red run needs: the keys the apiserver keeps in kine, as etcd's API lists them
COLLECTORS = [Collector("kine-keys.txt", "ETCDCTL_API=3 " + shlex.join(
    ["etcdctl", f"--endpoints=http://{LISTEN}", "--command-timeout=5s", "get", "--prefix", "--keys-only",
     "/registry"]), "command -v etcdctl && runs kine")]


@dataclass
class Kine:
    """`target.etcd` where the datastore is kine: what the apiserver is given."""
    host: Host
    endpoint: str
    tls: bool = False

    def __repr__(self) -> str:
        return f"<kine on {self.host.name} at {LISTEN}, datastore {self.endpoint}>"

    @property
    def client_urls(self) -> list[str]:
        return [f"http://{LISTEN}"]


@declares(needs=("datastore",), provides=("etcd",))
def apply(lab, target) -> None:
    """kine on the datastore's client host (the k3s server), on its PostgreSQL."""
    store = target.datastore
    host = store.host
    endpoint = f"postgres://{pg.USER}@{store.address}:{pg.PORT}/{pg.DATABASE}?sslmode=disable"
    host.succeed(shlex.join(["install", "-d", "-m", "0700", PASSFILE.rsplit("/", 1)[0]]))
    host.put_file(PASSFILE, f"{store.address}:{pg.PORT}:{pg.DATABASE}:{pg.USER}:{store.password}\n",
                  mode=0o600)
    host_binaries.link(host, ["kine"])
    host.service(SERVICE).define(
        [str(artifacts.binary("kine")), f"--endpoint={endpoint}", f"--listen-address={LISTEN}",
         f"--metrics-bind-address={METRICS}"],
        environment={"PGPASSFILE": PASSFILE}, autostart=True, autorestart=True, startsecs=0)
    # kine answers etcd's API (gRPC) once its table is there
    host.wait_until_succeeds("ETCDCTL_API=3 " + shlex.join(["etcdctl", f"--endpoints=http://{LISTEN}", "--command-timeout=3s",
                                         "get", "--keys-only", "--limit=1", "/registry"]),
                             timeout=60)
    target.provide("etcd", Kine(host, endpoint), "kine")
