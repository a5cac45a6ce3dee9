"""What the suites drive: a Target, built by applying a setup to a lab.

A Target is a set of named components (`etcd`, `dns`, `workload`, `frontend`,
`claim`, `bgp` ...) plus the capabilities it declares. Components are
contributed by the modules in harness/components, each for the setups it
applies to, so a suite reads `target.etcd` without knowing which setup or
provisioner made it. A suite marked `@pytest.mark.requires("etcd")` is
skipped, with the capability named, on a target that lacks it.

The lab target stands in for a Kubernetes control plane (none can run on this
machine): real daemons and a real data plane, no API server. A kubernetes
target (a real cluster through its API) offers the same components.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.lab import Lab


class MissingComponent(AttributeError):
    pass


class Target:
    kind = "lab"

    def __init__(self, lab: Lab, capabilities: set[str] | None = None):
        self.lab = lab
        self.capabilities: set[str] = set(capabilities or ())
        self._components: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"<{self.kind} target of {self.lab.id}: "
                f"{', '.join(sorted(self.capabilities)) or 'no capabilities'}>")

    def provide(self, name: str, component: Any, *capabilities: str) -> None:
        """Register a component under `name` and declare capabilities."""
        self._components[name] = component
        self.capabilities.update(capabilities)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def components(self) -> dict[str, Any]:
        return dict(self._components)

    def __getattr__(self, name: str) -> Any:
        components = self.__dict__.get("_components", {})
        if name in components:
            return components[name]
        raise MissingComponent(
            f"the {self.kind} target of lab {self.lab.id} (setup {self.lab.topology.setup}) "
            f"has no component {name!r}; it has: {', '.join(sorted(components)) or 'none'}")
