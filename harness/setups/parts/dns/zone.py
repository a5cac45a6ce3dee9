"""The cluster.local zone as the Kubernetes DNS specification lays it out,
served by BIND and changed by RFC 2136 dynamic updates.

The lab stands in for CoreDNS (not obtainable here) with BIND, keeping the
answers CoreDNS gives (Kubernetes DNS-Based Service Discovery spec, 1.1.0):
- a ClusterIP service: `<svc>.<ns>.svc.cluster.local` A/AAAA = its ClusterIP;
- a headless service: `<svc>.<ns>.svc.cluster.local` A/AAAA = the ready pod IPs;
- the wildcard form seed 000 documents, `*.<svc>.<ns>.svc.cluster.local`,
  returning the pod IPs of the service (CoreDNS answers a literal `*` label
  with every endpoint; in BIND a wildcard owner name answers a literal `*`
  query with its whole RRset);
- anything else in the zone: NXDOMAIN.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from harness.lab import templates
from harness.lab.collectors import Collector, VersionProbe

ZONE = "cluster.local"
TTL = 1  # seconds: HAProxy's resolver hold and clients must see changes at once
NAMED_DIR = "/var/lib/bind/harness"
NAMED_CONF = "/etc/bind/harness/named.conf"
VERSION_PROBES = [VersionProbe("bind", "named", "named -v")]
COLLECTORS = [Collector(
    "dns-zones.txt",
    f"cat {NAMED_CONF}; for z in $(named-checkconf -l {NAMED_CONF} 2>/dev/null | "
    "awk '$3==\"primary\"||$3==\"master\"{print $1}'); do echo \";; zone $z as served\"; "
    "dig +time=2 +tries=1 @127.0.0.1 \"$z\" AXFR; done",
    "command -v named-checkconf && runs named")]


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.{ZONE}"


def pods_fqdn(name: str, namespace: str) -> str:
    return f"*.{service_fqdn(name, namespace)}"


def rdtype(ip: str) -> str:
    return "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"


def named_conf(listen_v4: bool, listen_v6: bool) -> str:
    return templates.render(Path(__file__).parent, "named.conf.j2", named_dir=NAMED_DIR, zone=ZONE,
                            listen_v4=listen_v4, listen_v6=listen_v6)


def zone_file(ns_address: str) -> str:
    return templates.render(Path(__file__).parent, "zone.j2", zone=ZONE, ttl=TTL,
                            ns_address=ns_address, ns_rdtype=rdtype(ns_address))


@dataclass(frozen=True)
class ServiceRecords:
    """What DNS says about one service."""
    name: str
    namespace: str
    cluster_ip: str | None  # None: headless
    pod_ips: tuple[str, ...]

    def nsupdate(self) -> str:
        """One RFC 2136 update message replacing every record of the service."""
        svc, pods = service_fqdn(self.name, self.namespace), pods_fqdn(self.name, self.namespace)
        lines = [f"zone {ZONE}", f"update delete {svc}", f"update delete {pods}"]
        service_ips = [self.cluster_ip] if self.cluster_ip else list(self.pod_ips)
        lines += [f"update add {svc} {TTL} {rdtype(ip)} {ip}" for ip in service_ips]
        lines += [f"update add {pods} {TTL} {rdtype(ip)} {ip}" for ip in self.pod_ips]
        return "\n".join(lines + ["send", ""])
