"""A docker engine given by address (DOCKER_HOST), as a team spreads labs over
machines: here the "remote" machine is a second dockerd on its own socket,
state and containerd namespace. Its filesystem counts as not shared, so
supervisord is reached through `docker exec`, as it would be on another machine.
"""
from __future__ import annotations

import pytest

from harness.model.topology import from_dict

from provisioners.docker import DockerProvisioner  # noqa: E402
from provisioners.exec_rpc import ExecTransport  # noqa: E402
from tests.conftest import start_engine  # noqa: E402
from tests.test_docker import SMALL, objects_of  # noqa: E402

REMOTE = "unix:///run/docker-remote.sock"

@pytest.fixture(scope="module")
def remote():
    start_engine("docker", "--socket-suffix", "remote")
    return DockerProvisioner(base_url=REMOTE, shared_filesystem=False)


def test_lab_on_a_remote_engine(remote):
    local = DockerProvisioner()
    with remote.create(from_dict(SMALL, source="remote"), ssh=True) as lab:
        server = lab.host("server")
        assert isinstance(server.supervisor_proxy()._ServerProxy__transport, ExecTransport)
        # ssh goes through the remote engine too (`docker -H ... exec`)
        assert server.ssh_testinfra().check_output("hostname") == "server"
        svc = server.service("sleeper").define("sleep 1000")
        svc.wait_for_state("RUNNING")
        lab.host("frontend").succeed(f"ping -c1 -W2 {server.address('srv')}")
        # everything of the lab is on the remote engine, nothing on the local one
        assert objects_of(remote.client, lab.id)
        assert objects_of(local.client, lab.id) == []
        assert lab.id in [r.id for r in remote.list()]
        assert lab.id not in [r.id for r in local.list()]
    assert objects_of(remote.client, lab.id) == []
