"""Images into a node's containerd without copying their layers
(kubelet.import_images), on a real two-host netns lab: each host's images
are complete and run, the layers stay where the artifact set keeps them,
and one host's containerd is independent of the other's."""
from __future__ import annotations

import shlex

from harness import artifacts
from harness.setups.parts.kubernetes import kubelet
from harness.setups.parts.kubernetes.layout import CONTAINERD_ROOT, CONTAINERD_SOCKET

CTR = ["ctr", "-a", CONTAINERD_SOCKET, "-n", "k8s.io"]
IMAGES = [kubelet.IMAGES["pause"], kubelet.IMAGES["kube-apiserver"], kubelet.IMAGES["etcd"]]


def kib_used(host) -> int:
    return int(host.succeed(f"du -sk {CONTAINERD_ROOT}").split()[0])


def test_images_are_complete_run_and_are_not_copied(small_lab):
    first, second = small_lab.hosts.values()
    for host in (first, second):
        kubelet.run_containerd(host, IMAGES)
    layers = sum(p.stat().st_size for p in artifacts.image_split(artifacts.image(IMAGES[1]))[1].iterdir())
    for host in (first, second):
        assert kib_used(host) * 1024 < layers / 10, "the layers were copied into the content store"
        ran = host.run(shlex.join([*CTR, "run", "--rm", IMAGES[1], "probe", "kube-apiserver", "--version"]))
        assert ran.ok and ran.stdout.strip() == "Kubernetes v1.34.4", ran.stderr
    # one host's containerd removing its images and their content (the links)
    # leaves the artifact set's files and the other host's images whole
    every = first.succeed(shlex.join([*CTR, "images", "ls", "-q"])).split()
    first.succeed(shlex.join([*CTR, "images", "rm", "--sync", *every]))
    assert first.succeed(shlex.join([*CTR, "content", "ls", "-q"])).split() == []
    assert all(p.is_file() for p in artifacts.image_split(artifacts.image(IMAGES[1]))[1].iterdir())
    checked = second.succeed(shlex.join([*CTR, "images", "check", f"name=={IMAGES[1]}"]))
    assert " complete (2/2)" in checked, checked
    ran = second.run(shlex.join([*CTR, "run", "--rm", IMAGES[1], "probe2", "kube-apiserver", "--version"]))
    assert ran.ok, ran.stderr
