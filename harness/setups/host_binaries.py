"""The real components on a lab host's PATH: links from the host's own bin
directory into the artifact cache (the version probes and a person at the
host call them by name)."""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from harness import artifacts
from harness.lab.host import HOST_BIN_DIR

if TYPE_CHECKING:
    from harness.lab.host import Host


class ArtifactsNotVisible(RuntimeError):
    pass


def link(host: Host, names: list[str]) -> None:
    """Link each component onto the host's PATH; refuse, naming the path, when
    the host cannot see the artifact cache."""
    first = artifacts.binary(names[0])
    if not host.run(shlex.join(["test", "-x", str(first)])).ok:
        raise ArtifactsNotVisible(
            f"the Kubernetes artifacts ({first.parent}) are not visible on {host.name}: "
            "netns hosts have a private /tmp, /run and /var/lib (keep HARNESS_ARTIFACTS "
            "elsewhere, default /var/cache/harness/artifacts); docker and podman hosts see them "
            "only when the engine runs on this machine")
    host.succeed(" && ".join([shlex.join(["mkdir", "-p", HOST_BIN_DIR]), *(
        shlex.join(["ln", "-sf", str(artifacts.binary(n)), f"{HOST_BIN_DIR}/{n}"]) for n in names)]))
