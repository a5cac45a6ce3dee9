#!/bin/bash
# Installs what the harness needs on a Debian 12 machine, as root: the Debian
# packages the labs and setups run, and the Python environment in .venv.
# Idempotent: a second run installs nothing new and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# harness/debian-packages.txt: the packages marked machine or both
mapfile -t DEBIAN_PACKAGES < <(awk '!/^#/ && NF && ($2 == "machine" || $2 == "both") {print $1}' \
  harness/debian-packages.txt)

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
