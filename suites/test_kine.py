"""Seed 001's datastore as k3s embeds it: kube-apiserver on kine
(`--etcd-servers` at kine's listener), kine on the server's PostgreSQL. Both
checked from outside: the running apiserver's own command line and who
listens there, and the cluster's keys as rows of kine's table, queried with
psql as the datastore's user."""
from __future__ import annotations

import re
import secrets

import pytest

pytestmark = pytest.mark.requires("kine", "datastore", "k8s-api")


def rows(target, sql: str) -> list[str]:
    store = target.datastore
    result = store.query(store.host, sql)
    assert result.ok, result.summary()
    return result.stdout.split()


def test_the_running_apiserver_uses_kine_as_its_etcd(target):
    kine, server = target.etcd, target.kubernetes.admin_host
    pid = server.service("kube-apiserver").pid
    argv = server.get_file(f"/proc/{pid}/cmdline").decode().split("\0")
    etcd_servers = [a.split("=", 1)[1] for a in argv if a.startswith("--etcd-servers=")]
    assert etcd_servers == [",".join(kine.client_urls)], argv
    host, port = re.fullmatch(r"http://([^:]+):(\d+)", etcd_servers[0]).groups()
    listeners = [line for line in server.succeed("ss -Htlnp").splitlines()
                 if line.split()[3] == f"{host}:{port}"]
    kine_pid = server.service("kine").pid
    assert listeners and all(f"pid={kine_pid}," in line for line in listeners), \
        f"{host}:{port} is not kine's (pid {kine_pid}): {listeners}"


def test_kine_table_holds_the_clusters_keys(target):
    keys = set(rows(target, "select distinct name from kine where name like '/registry/%'"))
    nodes = {f"/registry/minions/{h.name}" for h in target.kubelets}
    assert nodes <= keys, f"nodes missing from kine's table: {sorted(nodes - keys)}"
    assert "/registry/namespaces/kube-system" in keys


def test_a_change_through_the_api_is_a_row_in_postgres(target):
    name = f"kine-{secrets.token_hex(4)}"
    key = f"/registry/configmaps/default/{name}"
    target.kubernetes.kubectl("create", "configmap", name, f"--from-literal=probe={name}")
    try:
        # kine stores the apiserver's protobuf value: the literal is in its bytes
        found = rows(target, f"select count(*) from kine where name = '{key}' "
                             f"and position('{name}'::bytea in value) > 0")
        assert found == ["1"], f"{key} is not in kine's table"
    finally:
        target.kubernetes.kubectl("delete", "configmap", name)
    deleted = rows(target, f"select deleted from kine where name = '{key}' order by id desc limit 1")
    assert deleted == ["1"], f"the delete of {key} is not kine's last row for it: {deleted}"
