"""The docker provisioner on podman's docker-compatible socket
(`podman system service`, started by `.ci/start-daemons podman`).

Every test of tests/test_docker.py runs here again (imported below), with
`provisioner` a PodmanProvisioner; the tests after it check what differs on
podman. The module-wide check of test_docker applies here too: forwarding in
the machine's namespace stays off and no NAT rule is added.
"""
from __future__ import annotations

import subprocess

import pytest

from provisioners.docker import LABEL, PODMAN_ULIMITS, PodmanProvisioner  # noqa: E402
from tests.conftest import start_engine  # noqa: E402
from tests.test_docker import *  # noqa: E402,F401,F403 - the docker provisioner's tests, on podman


@pytest.fixture(scope="module")
def provisioner():
    prov = PodmanProvisioner()
    if not prov.available():
        start_engine("podman")
        if not prov.available():
            pytest.fail(f"no podman answers on {prov.base_url} after `.ci/start-daemons podman`")
    return prov


def test_the_engine_is_podman(provisioner):
    assert provisioner.engine == "podman"
    assert provisioner.name == "podman"


def test_host_containers_get_the_ulimits_this_machine_allows(lab):
    limits = lab.host("server").succeed("cat /proc/1/limits")
    assert f"Max open files            {PODMAN_ULIMITS['nofile']}" in limits
    assert f"Max processes             {PODMAN_ULIMITS['nproc']}" in limits


def test_lab_networks_have_no_dns_server_and_no_gateway(provisioner, lab):
    """podman's compat API would start aardvark-dns on a gateway address of
    the machine, forwarding the lab's queries out: the lab's networks have neither."""
    nets = provisioner.client.networks.list(filters={"label": f"{LABEL}={lab.id}"})
    assert len(nets) == len(lab.topology.networks)
    for net in nets:
        spec = provisioner._libpod("GET", f"/networks/{net.name}/json")
        assert spec["internal"] and not spec["dns_enabled"], spec
        assert all("gateway" not in subnet for subnet in spec["subnets"]), spec
    assert "aardvark" not in subprocess.run(["ps", "-eo", "comm"], capture_output=True,
                                            text=True).stdout
