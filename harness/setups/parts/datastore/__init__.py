"""The k3s server's PostgreSQL datastore (seed 001), via postgres.py:
initdb, a pg_hba.conf admitting the server only, postgres in the foreground
as user postgres under supervisord; provides `target.datastore`, which kine
(the next part) serves the apiserver from. A lab attached again keeps its
database and the k3s user's password (root-only on the server)."""
from __future__ import annotations

import shlex

from harness.setups.parts import declares
from harness.setups.parts.datastore import postgres as pg


@declares(provides=("datastore",))
def apply(lab, target) -> None:
    host = lab.with_role("server")[0]
    existing = host.run(shlex.join(["test", "-s", f"{pg.DATA_DIR}/PG_VERSION"])).ok
    store = pg.Datastore(host, host.address("srv"))
    if existing:
        store.password = host.get_file(pg.PASSWORD_FILE).decode()
    else:
        host.succeed(f"install -d -o postgres -g postgres {pg.DATA_DIR} {pg.SOCKET_DIR} && "
                     f"runuser -u postgres -- {pg.BIN}/initdb -D {pg.DATA_DIR} -U postgres "
                     f"--auth-local=peer --auth-host=reject >/dev/null", timeout=120)
        host.put_file(pg.PASSWORD_FILE, store.password, mode=0o600)
    host.put_file(f"{pg.DATA_DIR}/pg_hba.conf", pg.hba([store.address]))
    host.succeed(f"chown postgres {pg.DATA_DIR}/pg_hba.conf")
    host.service("postgresql").define(
        [f"{pg.BIN}/postgres", "-D", pg.DATA_DIR, "-c", f"listen_addresses={store.address}",
         "-c", f"unix_socket_directories={pg.SOCKET_DIR}", "-c", f"port={pg.PORT}",
         "-c", "password_encryption=scram-sha-256"], user="postgres")
    host.wait_for_port(pg.PORT, timeout=60)
    host.wait_until_succeeds(f"runuser -u postgres -- {pg.BIN}/pg_isready -q -h {pg.SOCKET_DIR}",
                             timeout=30)
    if not existing:
        # the password goes on stdin, never on a command line (token_urlsafe: no quotes in it)
        created = host.run(f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h {pg.SOCKET_DIR}",
                           input=f"CREATE ROLE {pg.USER} LOGIN PASSWORD '{store.password}';\n"
                                 f"CREATE DATABASE {pg.DATABASE} OWNER {pg.USER};\n")
        if not created.ok:
            raise RuntimeError(f"creating the k3s datastore role/database failed: {created.summary()}")
    target.provide("datastore", store, "datastore", "postgresql")
