"""What the parts tell the real components, checked by those components in
seconds instead of by a cluster that does not come up: every flag a part
passes is one the built binary lists in its --help, and kubeadm's own
`kubeadm config validate` accepts the configuration the kubeadm part writes
(its kubelet and kube-proxy settings included)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import artifacts
from harness.model.topology import load
from harness.setups.parts.kube_router import arguments as kube_router_arguments
from harness.setups.parts.kubeadm import config as kubeadm_config
from harness.setups.parts.kubernetes.control_plane import ControlPlane

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"^--([a-z0-9-]+)(?:=|$)")


def listed_flags(binary: str) -> set[str]:
    """The flags `binary --help` lists (a multi-call binary answers as its name)."""
    shown = subprocess.run([str(artifacts.binary(binary)), "--help"], capture_output=True, text=True,
                           timeout=60)
    text = shown.stdout + shown.stderr
    found = set(re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", text, re.M))
    assert len(found) > 5, f"{binary} --help listed no flags: {text[:500]}"
    return found


def unknown_flags(binary: str, args: list[str]) -> list[str]:
    passed = [m.group(1) for a in args for m in [FLAG.match(a)] if m]
    assert passed, f"no flags in {args}"
    return sorted(set(passed) - listed_flags(binary))


def control_plane_arguments(**options) -> dict[str, list[str]]:
    host = SimpleNamespace(name="master")
    cluster = SimpleNamespace(pki=SimpleNamespace(directory="/etc/kubernetes/pki"), service_cidr="10.0.0.0/24",
                              pod_cidr="10.241.0.0/16")
    etcd = SimpleNamespace(client_urls=["https://127.0.0.1:2379"], tls=True)
    return ControlPlane(host, "192.168.1.10").arguments(cluster, etcd, **options)


@pytest.mark.parametrize("options", [
    {"elect": False, "allocate_node_cidrs": True},
    {"elect": True, "allocate_node_cidrs": False, "bootstrap_tokens": True},
], ids=["seed-000", "seed-001-tokens"])
def test_every_control_plane_flag_is_one_the_component_knows(options):
    arguments = control_plane_arguments(**options)
    assert sorted(arguments) == ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    for component, args in arguments.items():
        assert unknown_flags(component, args) == [], f"{component} does not know these flags"


def test_a_misspelled_flag_is_caught():
    """The check itself: a flag the apiserver does not have is named."""
    args = [*control_plane_arguments(elect=False, allocate_node_cidrs=True)["kube-apiserver"],
            "--service-cluster-ip-ranges=10.0.0.0/24"]
    assert unknown_flags("kube-apiserver", args) == ["service-cluster-ip-ranges"]


def test_every_kube_router_flag_is_one_kube_router_knows():
    assert unknown_flags("kube-router", kube_router_arguments("fd00:1::1", 9)) == []


def validate_kubeadm(tmp_path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "kubeadm.yaml"
    path.write_text(text)
    return subprocess.run([str(artifacts.binary("kubeadm")), "config", "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


def kubeadm_init_config() -> str:
    """What the kubeadm part writes on the shipped kubeadm-ha topology's first control plane."""
    topo = load(ROOT / "fixtures" / "topologies" / "kubeadm-ha.yaml")
    first = next(h for h in topo.hosts.values() if "master" in h.roles)
    address = str(next(iter(first.addresses.values()))["ipv6"])
    return kubeadm_config.init_configuration(first.name, address, "[2001:db8:10:1::1]:6443", topo.name,
                                             topo.domain, str(topo.pod_cidrs[0]), str(topo.service_cidrs[0]))


def test_kubeadm_validates_the_init_configuration(tmp_path):
    validated = validate_kubeadm(tmp_path, kubeadm_init_config())
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_kubeadm_refuses_a_kubelet_setting_it_does_not_know(tmp_path):
    """The check itself: a misspelled KubeletConfiguration field is refused."""
    text = kubeadm_init_config().replace("failSwapOn:", "failSwapsOn:")
    assert "failSwapsOn" in text
    validated = validate_kubeadm(tmp_path, text)
    assert validated.returncode != 0 and "failSwapsOn" in validated.stdout + validated.stderr, \
        validated.stdout + validated.stderr
