"""Provisioners turn a Topology into a Lab. One module per backend."""
from __future__ import annotations

import importlib

from provisioners.base import Provisioner

#: name -> module:class, loaded only when asked for (docker, podman and
#: libvirt need their SDKs and daemons; netns needs neither)
BACKENDS = {
    "netns": "provisioners.netns:NetnsProvisioner",
    "docker": "provisioners.docker:DockerProvisioner",
    "podman": "provisioners.docker:PodmanProvisioner",
    "libvirt": "provisioners.libvirt:LibvirtProvisioner",
}
DEFAULT = "netns"


class UnknownProvisioner(ValueError):
    pass


def get(name: str = DEFAULT, **options) -> Provisioner:
    try:
        module_name, cls_name = BACKENDS[name].split(":")
    except KeyError:
        raise UnknownProvisioner(f"unknown provisioner {name!r} "
                                 f"(known: {', '.join(sorted(BACKENDS))})") from None
    return getattr(importlib.import_module(module_name), cls_name)(**options)


def all_available() -> list[Provisioner]:
    """Every provisioner whose backend can be reached here (for status and gc)."""
    found = []
    for name in BACKENDS:
        try:
            prov = get(name)
        except Exception:  # noqa: BLE001 - an absent SDK or daemon is simply not listed
            continue
        if prov.available():
            found.append(prov)
    return found
