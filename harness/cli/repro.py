"""Repro case files: reproduce a customer's problem from a small YAML file.

  name: etcd-rejoin-hang             # required, [a-z0-9-]
  seed: "004"                        # the document the problem is about
  description: ...
  topology: kubeadm-ha               # a name under fixtures/topologies or a file
  override: {cluster: {...}}         # merged into the topology (setup options that differ)
  faults: [{kind: crash, host: master2}, ...]     # see harness/lab/faults.py
  select: [suites/test_etcd.py::test_rejoin]      # pytest node ids or paths
  keyword: rejoin                    # optional: pytest -k
  expect:
    shows_as: failed | timeout | topology-error   # how the problem shows
    symptom: "tocommit\\(\\d+\\) is out of range"  # failed/timeout: a regular expression the
                                     # failure text must match; only a failure showing it counts
    message: "overlaps"              # topology-error: a part of the error
    reporter: what the reporter expected instead  # required

A bad case file is one CaseError naming the file and the key; nothing is created.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.lab import faults

from harness.model import topology as topology_mod

CASE_KEYS = {"name", "seed", "description", "topology", "override", "faults", "select",
             "keyword", "expect"}
EXPECT_KEYS = {"shows_as", "symptom", "message", "reporter"}
SHOWS_AS = ("failed", "timeout", "topology-error")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


class CaseError(ValueError):
    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}")


@dataclass(frozen=True)
class Case:
    source: str
    name: str
    seed: str
    description: str
    topology_data: dict
    faults: list[dict]
    select: list[str]
    keyword: str | None
    shows_as: str
    message: str
    reporter: str
    #: failed/timeout: what a failure must say to be this problem (a regex)
    symptom: str = ""

    def topology(self) -> topology_mod.Topology:
        """The case's topology; raises TopologyError where the problem is the topology itself."""
        return topology_mod.from_dict(self.topology_data, f"{self.source} (topology)")


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


def load(path: str | Path) -> Case:
    source = str(path)
    try:
        data = yaml.load(Path(path).read_text(), Loader=topology_mod._UniqueKeyLoader)
    except OSError as exc:
        raise CaseError(source, "(file)", exc.strerror or str(exc)) from None
    except yaml.YAMLError as exc:
        raise CaseError(source, "(yaml)", str(exc).replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise CaseError(source, "(top level)", "must be a mapping")
    for key in sorted(set(data) - CASE_KEYS):
        raise CaseError(source, key, f"unknown key (known: {', '.join(sorted(CASE_KEYS))})")
    for key in ("name", "topology", "select", "expect"):
        if key not in data:
            raise CaseError(source, key, "required")
    if not isinstance(data["name"], str) or not NAME.match(data["name"]):
        raise CaseError(source, "name", "must be lower-case letters, digits and dashes")
    ref = data["topology"]
    if not isinstance(ref, str):
        raise CaseError(source, "topology", "must be a topology name or file")
    topo_path = topology_mod.resolve_path(ref)
    if not topo_path.is_absolute() and not topo_path.exists():
        topo_path = Path(path).parent / ref
    try:
        base = yaml.safe_load(topo_path.read_text())
    except OSError:
        raise CaseError(source, "topology", f"no topology {ref!r} ({topo_path} not found)") from None
    override = data.get("override", {})
    if not isinstance(override, dict):
        raise CaseError(source, "override", "must be a mapping merged into the topology")
    for key in sorted(set(override) - topology_mod.TOP_KEYS):
        raise CaseError(source, f"override.{key}", "not a topology key")
    select = data["select"]
    if not isinstance(select, list) or not select or not all(isinstance(s, str) for s in select):
        raise CaseError(source, "select", "must be a non-empty list of pytest node ids or paths")
    expect = data["expect"]
    if not isinstance(expect, dict):
        raise CaseError(source, "expect", "must be a mapping")
    for key in sorted(set(expect) - EXPECT_KEYS):
        raise CaseError(source, f"expect.{key}", "unknown key")
    if expect.get("shows_as") not in SHOWS_AS:
        raise CaseError(source, "expect.shows_as", f"must be one of {', '.join(SHOWS_AS)}")
    if not isinstance(expect.get("reporter"), str) or not expect["reporter"].strip():
        raise CaseError(source, "expect.reporter", "required: what the reporter expected")
    if expect["shows_as"] == "topology-error" and not isinstance(expect.get("message"), str):
        raise CaseError(source, "expect.message", "required for topology-error: a part of the error")
    if expect["shows_as"] != "topology-error":
        symptom = expect.get("symptom")
        if not isinstance(symptom, str) or not symptom.strip():
            raise CaseError(source, "expect.symptom", f"required for {expect['shows_as']}: a regular "
                                                      "expression of what the failure says")
        try:
            re.compile(symptom)
        except re.error as exc:
            raise CaseError(source, "expect.symptom", f"not a regular expression: {exc}") from None
    fault_list = data.get("faults", [])
    if not isinstance(fault_list, list):
        raise CaseError(source, "faults", "must be a list")
    topo_data = _merge(base, override)
    try:
        topo = topology_mod.from_dict(topo_data, f"{source} (topology)")
    except topology_mod.TopologyError:
        topo = None  # may be the very problem (topology-error); checked when run
        if expect["shows_as"] != "topology-error":
            raise
    for i, fault in enumerate(fault_list):
        problem = faults.problems(fault, f"faults[{i}]", topo)
        if problem:
            key, _, message = problem.partition(": ")
            raise CaseError(source, key, message)
    return Case(source, data["name"], str(data.get("seed", "")), data.get("description", ""),
                topo_data, fault_list, select, data.get("keyword"), expect["shows_as"],
                expect.get("message", ""), expect["reporter"], expect.get("symptom", ""))


def failure_texts(junit: Path) -> dict[str, str]:
    """pytest node id -> the whole failure or error text (message and
    traceback) of each test in a JUnit file; empty when there is none."""
    import xml.etree.ElementTree as ET
    if not junit.is_file():
        return {}
    texts = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problems = [e for e in case if e.tag in ("failure", "error")]
        if problems:
            module, _, klass = case.get("classname", "").partition("::")
            path = module.replace(".", "/") + ".py"
            nodeid = "::".join([path, *([klass] if klass else []), case.get("name", "")])
            texts[nodeid] = "\n".join(f"{e.get('message', '')}\n{e.text or ''}" for e in problems)
    return texts
