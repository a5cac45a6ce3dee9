"""The pytest plugin: options, the lab and target fixtures, the `requires` marker.

Each xdist worker boots a lab of its own (labs never collide), or all attach
to one lab given with --lab. The lab is removed when the session ends, also
on Ctrl-C and SIGTERM; with --keep it stays when a test failed, and the way
to attach is printed.

With --kubeconfig the suites run against a cluster the harness did not make
(harness.setups.attached): each worker makes a namespace of its own there,
removed when the session ends (also on Ctrl-C and SIGTERM); nothing else
on the cluster is changed. What such a target cannot offer (commands on its
hosts without an ssh inventory) raises MissingCapability, reported as a
skip naming the capability.
"""
from __future__ import annotations

import os
import signal
import warnings

import pytest

from harness.model import topology as topology_mod
from harness.lab import terminated_handler
from harness.lab.host import MissingCapability

_KEPT_LABS_KEY = pytest.StashKey[list]()
_TOPOLOGY_KEY = pytest.StashKey[topology_mod.Topology]()
_PREV_SIGTERM_KEY = pytest.StashKey[object]()
_ATTACHED_KEY = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("harness", "conformance harness")
    group.addoption("--topology", default=os.environ.get("HARNESS_TOPOLOGY"),
                    help="topology file or name under fixtures/topologies "
                         f"(default: {topology_mod.DEFAULT_TOPOLOGY.stem})")
    group.addoption("--provisioner", default=os.environ.get("HARNESS_PROVISIONER", "netns"),
                    help="how lab hosts are made: netns (default), docker, podman, libvirt")
    group.addoption("--keep", action="store_true",
                    help="keep the lab when a test failed, and print how to attach")
    group.addoption("--lab", default=None, help="attach to a lab already up (see `harness status`)")
    group.addoption("--ssh", action="store_true", help="run sshd on every lab host")
    group.addoption("--kubeconfig", default=None, metavar="FILE",
                    help="run against the existing cluster of this kubeconfig (its current "
                         "context) instead of a lab")
    group.addoption("--inventory", default=None, metavar="FILE",
                    help="with --kubeconfig: the cluster's hosts, their roles and ssh access "
                         "(harness.setups.inventory), for host checks")


def pytest_configure(config):
    config.addinivalue_line("markers", "requires(capability): skip unless the target has it")
    config.stash[_KEPT_LABS_KEY] = []
    try:
        config.stash[_PREV_SIGTERM_KEY] = signal.signal(signal.SIGTERM, terminated_handler())
    except ValueError:  # not in the main thread
        config.stash[_PREV_SIGTERM_KEY] = None
    if config.getoption("--inventory") and not config.getoption("--kubeconfig"):
        raise pytest.UsageError("--inventory needs --kubeconfig (the cluster its hosts belong to)")
    if config.getoption("--kubeconfig"):
        config.stash[_ATTACHED_KEY] = attach(config)
        config.stash[_TOPOLOGY_KEY] = config.stash[_ATTACHED_KEY].topology
    elif config.getoption("--topology"):
        # a bad topology is one clear error before anything runs
        try:
            config.stash[_TOPOLOGY_KEY] = topology_mod.load(
                topology_mod.resolve_path(config.getoption("--topology")))
        except topology_mod.TopologyError as exc:
            raise pytest.UsageError(str(exc)) from None


def attach(config):
    """The cluster of --kubeconfig, reached and described: a bad kubeconfig or
    an unreachable apiserver is one usage error line before anything runs."""
    from harness.setups import attached
    conflicting = [option for option in ("--lab", "--topology", "--keep", "--ssh")
                   if config.getoption(option)]
    if conflicting:
        raise pytest.UsageError(f"--kubeconfig runs against an existing cluster: "
                                f"{', '.join(conflicting)} apply to labs only")
    try:
        return attached.connect(config.getoption("--kubeconfig"), config.getoption("--inventory"))
    except attached.AttachError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config):
    cluster = config.stash.get(_ATTACHED_KEY, None)
    if cluster is not None:
        cluster.close()
    prev = config.stash.get(_PREV_SIGTERM_KEY, None)
    if prev is not None:
        signal.signal(signal.SIGTERM, prev)


def session_topology(config) -> topology_mod.Topology:
    topo = config.stash.get(_TOPOLOGY_KEY, None)
    if topo is None:
        topo = config.stash[_TOPOLOGY_KEY] = topology_mod.load(
            topology_mod.resolve_path(config.getoption("--topology")))
    return topo


def pytest_generate_tests(metafunc):
    """Parametrize from the topology, so each case is its own item (xdist shards them).

    host_name: every host. link: (src, dst, network, family) for every
    ordered pair of hosts sharing a network, in each family of that network.
    """
    names = {"host_name", "link"} & set(metafunc.fixturenames)
    if not names:
        return
    topo = session_topology(metafunc.config)
    if "host_name" in names:
        metafunc.parametrize("host_name", list(topo.hosts))
    if "link" in names:
        links = [(src.name, dst.name, net, fam)
                 for src in topo.hosts.values() for dst in topo.hosts.values() if src is not dst
                 for net in src.addresses if net in dst.addresses
                 for fam in topo.networks[net].families]
        metafunc.parametrize("link", links, ids=[f"{s}->{d}/{n}/{f}" for s, d, n, f in links])


@pytest.fixture(scope="session")
def topology(pytestconfig) -> topology_mod.Topology:
    return session_topology(pytestconfig)


@pytest.fixture(scope="session")
def provisioner(pytestconfig):
    import provisioners
    try:
        return provisioners.get(pytestconfig.getoption("--provisioner"))
    except provisioners.UnknownProvisioner as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def lab(request, pytestconfig, provisioner, topology):
    """This worker's lab (or the one attached with --lab, or the cluster of --kubeconfig)."""
    cluster = pytestconfig.stash.get(_ATTACHED_KEY, None)
    if cluster is not None:
        try:
            cluster.open()   # the run's namespace: close() removes it
            yield cluster
        finally:
            cluster.close()
        return
    attach = pytestconfig.getoption("--lab")
    if attach:
        attached = provisioner.attach(attach)
        try:
            yield attached
        finally:
            attached.close()  # the lab stays up; what this session held of it goes
        return
    for stuck in provisioner.gc().stuck:  # labs of harness runs that were killed
        # a lab nobody can remove must not keep this run from making its own
        warnings.warn(pytest.PytestWarning(str(stuck)))
    the_lab = provisioner.create(topology, ssh=pytestconfig.getoption("--ssh"))
    try:
        yield the_lab
    finally:
        failed = request.session.testsfailed > 0
        if pytestconfig.getoption("--keep") and failed:
            the_lab.detach()
            pytestconfig.stash[_KEPT_LABS_KEY].append(the_lab)
        else:
            the_lab.destroy()


@pytest.fixture(scope="session")
def target(lab):
    """The lab with its documented setup applied (an attached cluster as it is)."""
    from harness import setups
    from harness.setups import attached
    if isinstance(lab, attached.AttachedLab):
        return lab.target()
    return setups.apply(lab)


@pytest.fixture(scope="session")
def hosts_with_role(lab):
    """hosts_with_role("node") -> the lab's hosts with that role; master/server
    and node/agent are the same role under the names different seeds use."""
    aliases = {"master": {"master", "server"}, "server": {"master", "server"},
               "node": {"node", "agent"}, "agent": {"node", "agent"}}

    def select(role: str):
        wanted = aliases.get(role, {role})
        return [h for h in lab.hosts.values() if wanted & set(h.roles)]
    return select


@pytest.fixture(scope="session")
def masters(hosts_with_role):
    return hosts_with_role("master")


@pytest.fixture(scope="session")
def nodes(hosts_with_role):
    return hosts_with_role("node")


@pytest.fixture(scope="session")
def frontends(hosts_with_role):
    return hosts_with_role("frontend")


_REQUIRES_FIXTURE = "_harness_requires"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """A test marked requires(...) requests the skipping fixture first of all
    its fixtures, so that a module fixture needing the missing capability
    never runs. Function.fixturenames is the item's public list of the
    fixtures it sets up, in order; marker-driven plugins (time-machine,
    pytest-freezer) prepend to it the same way."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is not None and item.get_closest_marker("requires") and _REQUIRES_FIXTURE not in names:
            names.insert(0, _REQUIRES_FIXTURE)


@pytest.fixture(name=_REQUIRES_FIXTURE)
def requires_check(request):
    """Skip, naming what is missing, a test marked requires(...) on a target
    lacking it."""
    target = request.getfixturevalue("target")
    missing = [cap for mark in request.node.iter_markers("requires") for cap in mark.args
               if not target.has(cap)]
    if missing:
        pytest.skip(f"target lacks capability: {', '.join(missing)} "
                    f"(setup {target.lab.topology.setup}, {target.origin})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test or fixture that reaches for what the target cannot offer (a
    command on a host known only through the API, a crash of a customer's
    host) is skipped with the capability named, never passed or failed."""
    outcome = yield
    if call.excinfo is None or not call.excinfo.errisinstance(MissingCapability):
        return
    report = outcome.get_result()
    path, line, _ = item.reportinfo()
    report.outcome = "skipped"
    report.longrepr = (str(path), (line or 0) + 1, f"Skipped: target {call.excinfo.value}")


def kept_message(lab_id: str, first_host: str) -> str:
    return (f"harness: lab {lab_id} kept because a test failed; attach with "
            f"`harness shell {lab_id} {first_host}`, rerun with `--lab {lab_id}`, "
            f"remove with `harness down {lab_id}`")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: tell the controller
        workeroutput["harness_kept"] = [
            kept_message(k.id, next(iter(k.hosts))) for k in session.config.stash[_KEPT_LABS_KEY]]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    messages = getattr(node, "workeroutput", {}).get("harness_kept", [])
    node.config.stash.setdefault(_KEPT_LABS_KEY, []).extend(messages)


def pytest_terminal_summary(terminalreporter, config):
    for kept in config.stash.get(_KEPT_LABS_KEY, []):
        line = kept if isinstance(kept, str) else kept_message(kept.id, next(iter(kept.hosts)))
        terminalreporter.write_line(line, yellow=True)
