"""PostgreSQL as the k3s server's datastore (seed 001: "provides the
Kubernetes control plane with a PostgreSQL database").

The server listens on its SRV address; pg_hba.conf lets only the k3s server
itself in (as k3s's `--datastore-endpoint=postgres://...` would connect) and
rejects every other host, so agents and the frontend are refused by policy,
not by a wrong password.
"""
from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field

from harness.lab.collectors import VersionProbe

BIN = "/usr/lib/postgresql/15/bin"
DATA_DIR = "/var/lib/postgresql/k3s"
SOCKET_DIR = "/run/postgresql"
PORT = 5432
#: k3s creates the database named in the endpoint; it documents `kubernetes`
DATABASE = "kubernetes"
USER = "k3s"
VERSION_PROBES = [VersionProbe("postgresql", "postgres", f"{BIN}/postgres --version")]


def hba(server_addresses: list[str]) -> str:
    lines = ["# written by the harness: the k3s server only",
             "local all postgres peer"]
    for addr in server_addresses:
        mask = 128 if ":" in addr else 32
        lines.append(f"host {DATABASE} {USER} {addr}/{mask} scram-sha-256")
    lines += ["host all all 0.0.0.0/0 reject", "host all all ::/0 reject"]
    return "\n".join(lines) + "\n"


@dataclass
class Datastore:
    """`target.datastore`: where it runs and how a host connects."""
    host: object
    address: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)

    def query(self, client, sql: str):
        """Run `sql` as the k3s user from `client` (any lab host) with the right
        password; returns the CommandResult (refused ones fail)."""
        client.put_file("/root/.pgpass", f"{self.address}:{PORT}:{DATABASE}:{USER}:{self.password}\n",
                        mode=0o600)
        return client.run(f"psql -w -X -A -t -h {self.address} -p {PORT} -U {USER} -d {DATABASE} "
                          f"-c {shlex.quote(sql)}", timeout=20)
