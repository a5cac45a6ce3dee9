"""The parts a setup is made of, one module per part.

Each module defines:
  NAME             what the part is ("etcd", "cluster DNS", ...)
  ORDER            when it is applied (lower first): etcd 10, pod network 20,
                   DNS 30, service proxy 35, workloads 40, frontend 50, storage 60,
                   datastore 70, webgateway 80
  SETUPS           the setup names it applies to
  apply(lab, target, steps)  configures the hosts, validates every rendered
                   config with the real tool, starts services, waits for
                   readiness, and registers components on the target
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


class _Part:
    def __init__(self, module: ModuleType):
        self.module = module
        self.NAME = module.NAME
        self.ORDER = module.ORDER
        self.apply = module.apply

    def applies_to(self, topology) -> bool:
        return topology.setup in self.module.SETUPS


def ordered() -> list[_Part]:
    parts = [_Part(importlib.import_module(f"{__name__}.{info.name}"))
             for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return sorted(parts, key=lambda p: (p.ORDER, p.NAME))
