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
from pathlib import Path

from harness.lab import templates
from harness.lab.collectors import VersionProbe

BIN = "/usr/lib/postgresql/15/bin"
DATA_DIR = "/var/lib/postgresql/k3s"
SOCKET_DIR = "/run/postgresql"
PORT = 5432
#: k3s creates the database named in the endpoint; it documents `kubernetes`
DATABASE = "kubernetes"
USER = "k3s"
#: the k3s user's password, root-only on the server (a lab attached again keeps it)
PASSWORD_FILE = "/var/lib/postgresql/k3s.password"
VERSION_PROBES = [VersionProbe("postgresql", "postgres", f"{BIN}/postgres --version")]


def hba(server_addresses: list[str]) -> str:
    return templates.render(Path(__file__).parent, "pg_hba.conf.j2", server_addresses=server_addresses,
                            database=DATABASE, user=USER)


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
        return client.run(shlex.join(["psql", "-w", "-X", "-A", "-t", "-h", self.address, "-p", str(PORT),
                                      "-U", USER, "-d", DATABASE, "-c", sql]), timeout=20)
