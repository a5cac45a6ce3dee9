"""What a setup of the catalogue promises that can be checked on a cluster
the harness attached to (an ssh inventory names the setup), read from the
setup's recipe: the roles whose hosts run the service proxy (kube-proxy)
and are on the pod network, the pod network's data plane (vxlan, host-gw),
`kubernetes-make-kubeconfig` on the control planes, and an HAProxy
frontend. What needs the harness's own daemons or certificates (etcd, BGP,
the datastore) is not promised here: its suites skip, naming it."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from harness.model.setups import KUBERNETES_ROLES
from harness.setups.parts import frontend
from harness.setups.parts.kubernetes import flanneld, make_kubeconfig
from harness.setups.recipes import RECIPES, Part


class UnknownSetup(ValueError):
    pass


@dataclass(frozen=True)
class Promises:
    setup: str
    #: the roles of the hosts that run the service proxy (and use the cluster DNS)
    proxy_roles: frozenset[str]
    #: the roles of the hosts on the pod network
    pod_roles: frozenset[str]
    #: what else the setup's documents promise: make-kubeconfig, vxlan | host-gw, haproxy
    capabilities: frozenset[str]


def _option(part: Part, name: str):
    """The part's option `name`, or its apply's default for it (None: no such option)."""
    parameter = inspect.signature(part.apply).parameters.get(name)
    default = None if parameter is None or parameter.default is inspect.Parameter.empty \
        else parameter.default
    return part.options.get(name, default)


def _providing(recipe: list[Part], component: str) -> Part | None:
    return next((p for p in recipe if component in p.provides), None)


def of(setup: str) -> Promises:
    """The promises of `setup`; UnknownSetup names the setups there are."""
    if setup not in RECIPES:
        raise UnknownSetup(f"no setup {setup!r} in the catalogue (known: {', '.join(RECIPES)})")
    recipe = RECIPES[setup]
    proxy, pods = _providing(recipe, "service_proxy"), _providing(recipe, "pod_network")
    backend = (_option(pods, "backend") or ("vxlan" if pods.apply is flanneld.etcd_backend else None)
               if pods else None)
    applies = {p.apply for p in recipe}
    capabilities = {backend} - {None}
    capabilities |= {"make-kubeconfig"} if make_kubeconfig.apply in applies else set()
    capabilities |= {"haproxy"} if frontend.apply in applies else set()
    proxy_roles = frozenset(_option(proxy, "roles") or ()) if proxy else frozenset()
    pod_roles = frozenset(_option(pods, "roles") or KUBERNETES_ROLES) if pods else frozenset()
    return Promises(setup, proxy_roles, pod_roles, frozenset(capabilities))
