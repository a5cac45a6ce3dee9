#!/bin/bash
# Installs what the harness needs on a Debian 12 machine, as root: the Debian
# packages the labs and setups run, and the Python environment in .venv.
# Idempotent: a second run installs nothing new and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  iproute2 iputils-ping procps psmisc util-linux socat curl ethtool tcpdump iptables
  openssh-server openssh-client supervisor
  etcd-server etcd-client haproxy bind9 bind9-utils bind9-dnsutils bird2 nginx
  postgresql nfs-ganesha nfs-ganesha-vfs libnfs-utils containernetworking-plugins
  golang-cfssl mininet bridge-utils debootstrap chromium containerd runc
  gcc libc6-dev
  docker.io podman libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
  linux-image-cloud-amd64 pkg-config libvirt-dev
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install: Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian starts nothing here (PID 1 is not systemd), but if a package's
# daemon did get started on the machine itself, it is not ours to leave running.
if [ ! -d .venv ]; then
  echo "install: Python environment in .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import harness, pyroute2, testinfra, xdist" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e .
  touch .venv/.installed
fi
echo "install: ready (.venv/bin/harness doctor checks the details)"
