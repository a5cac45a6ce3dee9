"""What the parts declare for looking at a lab, gathered in one place: their
diagnostics collectors (harness.results.diagnostics runs them) and version
probes (harness.results records what runs). A part declares `COLLECTORS`
and `VERSION_PROBES` beside the paths it writes; a new part that has them
is listed here (tests/test_layers.py fails while one is missing)."""
from __future__ import annotations

from harness.lab.collectors import Collector, VersionProbe
from harness.setups.parts.datastore import postgres
from harness.setups.parts.dns import zone as dns_zone
from harness.setups.parts.etcd import cluster as etcd_cluster
from harness.setups.parts.frontend import config as haproxy_config
from harness.setups.parts import kine
from harness.setups.parts.kubeadm import stacked_etcd
from harness.setups.parts.kubernetes import layout as kubernetes_layout
from harness.setups.parts.pod_network import bgp
from harness.setups.parts.service_proxy import proxy as service_proxy
from harness.setups.parts.storage import nfs
from harness.setups.parts.webgateway import nginx

COLLECTORS: list[Collector] = [
    *etcd_cluster.COLLECTORS, *haproxy_config.COLLECTORS, *dns_zone.COLLECTORS, *bgp.COLLECTORS,
    *service_proxy.COLLECTORS, *nfs.COLLECTORS, *kubernetes_layout.COLLECTORS, *kine.COLLECTORS,
    *stacked_etcd.COLLECTORS]
VERSION_PROBES: list[VersionProbe] = [
    *etcd_cluster.VERSION_PROBES, *haproxy_config.VERSION_PROBES, *dns_zone.VERSION_PROBES,
    *bgp.VERSION_PROBES, *nginx.VERSION_PROBES, *postgres.VERSION_PROBES, *nfs.VERSION_PROBES,
    *kubernetes_layout.VERSION_PROBES, *kine.VERSION_PROBES]
