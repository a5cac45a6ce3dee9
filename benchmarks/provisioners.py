"""Time to a 5-host lab, up and down: netns vs docker vs podman vs libvirt (1 VM)
vs Molecule's docker driver making the same 5 containers from the same image.

    .venv/bin/python benchmarks/provisioners.py [--rounds 2] [--no-libvirt] [--no-podman]
                                                [--no-molecule]

Prints seconds per backend and ratios to our docker provisioner. Needs the
daemons of .ci/start-daemons and the host image (`harness image build`).
Molecule (PyPI `molecule`, `molecule-plugins[docker]`, `ansible`) is installed
into its own venv, MOLECULE_VENV, on first use: it is not a harness dependency.

What is compared: "up" is until every host runs its supervisord (netns,
docker) or its guest agent and supervisord answer (libvirt). Molecule's
`create` is until its 5 containers run; its containers get the default
network, no lab networks or addresses, so it does strictly less.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.model import topology as topology_mod  # noqa: E402

MOLECULE_VENV = Path(os.environ.get("MOLECULE_VENV", "/var/cache/harness/molecule-venv"))
MOLECULE_PACKAGES = ["molecule>=6", "molecule-plugins[docker]>=23", "ansible>=8"]


def five_hosts() -> topology_mod.Topology:
    topo = topology_mod.load(ROOT / "fixtures/topologies/k3s.yaml")
    return topo.only(*list(topo.hosts)[:5])


def one_host(topo: topology_mod.Topology) -> topology_mod.Topology:
    return topo.only(next(iter(topo.hosts)))


def time_lab(provisioner, topo, rounds: int) -> tuple[float, float]:
    ups, downs = [], []
    for _ in range(rounds):
        start = time.monotonic()
        lab = provisioner.create(topo)
        ups.append(time.monotonic() - start)
        start = time.monotonic()
        lab.destroy()
        downs.append(time.monotonic() - start)
    return statistics.median(ups), statistics.median(downs)


def ensure_molecule() -> Path:
    molecule = MOLECULE_VENV / "bin" / "molecule"
    if not molecule.exists():
        print(f"installing Molecule into {MOLECULE_VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MOLECULE_VENV)], check=True)
        subprocess.run([str(MOLECULE_VENV / "bin/pip"), "install", "-q", *MOLECULE_PACKAGES],
                       check=True)
    return molecule


MOLECULE_YML = """\
driver:
  name: docker
platforms:
{platforms}
provisioner:
  name: ansible
"""
PLATFORM = """\
  - name: {name}
    image: {image}
    pre_build_image: true
    command: /usr/local/sbin/harness-boot
    capabilities: [NET_ADMIN, SYS_ADMIN]
"""


def time_molecule(image: str, names: list[str], rounds: int) -> tuple[float, float]:
    molecule = ensure_molecule()
    env = dict(os.environ, PATH=f"{MOLECULE_VENV / 'bin'}:{os.environ['PATH']}",
               ANSIBLE_NOCOLOR="1", MOLECULE_NO_LOG="true")
    ups, downs = [], []
    with tempfile.TemporaryDirectory(prefix="molecule-bench-") as d:
        scenario = Path(d) / "molecule" / "default"
        scenario.mkdir(parents=True)
        platforms = "".join(PLATFORM.format(name=f"mbench-{os.getpid()}-{n}", image=image)
                            for n in names)
        (scenario / "molecule.yml").write_text(MOLECULE_YML.format(platforms=platforms))
        (scenario / "converge.yml").write_text("- hosts: all\n  gather_facts: false\n  tasks: []\n")
        for _ in range(rounds):
            for action, sink in (("create", ups), ("destroy", downs)):
                start = time.monotonic()
                done = subprocess.run([str(molecule), action], cwd=d, env=env,
                                      capture_output=True, text=True)
                if done.returncode:
                    subprocess.run([str(molecule), "destroy"], cwd=d, env=env, capture_output=True)
                    raise RuntimeError(f"molecule {action} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
                sink.append(time.monotonic() - start)
    return statistics.median(ups), statistics.median(downs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-libvirt", action="store_true")
    parser.add_argument("--no-podman", action="store_true")
    parser.add_argument("--no-molecule", action="store_true")
    args = parser.parse_args()

    from provisioners.docker import DockerProvisioner
    from provisioners.netns import NetnsProvisioner
    topo = five_hosts()
    docker_prov = DockerProvisioner()
    from provisioners.image import build_docker_image
    image = build_docker_image(docker_prov.client)
    docker_prov.image = image

    results: dict[str, tuple[float, float]] = {}
    results["netns (5 hosts)"] = time_lab(NetnsProvisioner(), topo, args.rounds)
    results["docker (5 containers)"] = time_lab(docker_prov, topo, args.rounds)
    if not args.no_podman:
        from provisioners.docker import PodmanProvisioner
        podman_prov = PodmanProvisioner()
        podman_prov.image = build_docker_image(podman_prov.client)
        results["podman (5 containers)"] = time_lab(podman_prov, topo, args.rounds)
    if not args.no_molecule:
        results["molecule docker (5 containers)"] = time_molecule(image, list(topo.hosts),
                                                                  args.rounds)
    if not args.no_libvirt:
        os.environ.setdefault("HARNESS_LIBVIRT_ACCEL", "tcg")
        from provisioners.libvirt import LibvirtProvisioner
        results["libvirt (1 VM, TCG)"] = time_lab(LibvirtProvisioner(), one_host(topo), 1)

    base_up, base_down = results["docker (5 containers)"]
    print(f"{'backend':34} {'up s':>7} {'down s':>7} {'up/docker':>10} {'down/docker':>12}")
    for name, (up, down) in results.items():
        print(f"{name:34} {up:7.2f} {down:7.2f} {up / base_up:10.2f} {down / base_down:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
