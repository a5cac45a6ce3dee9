"""The lab's cluster DNS: BIND on one control-plane host, the resolver of
every Kubernetes host and the frontend (see zone.py for the records).

Records change by RFC 2136 dynamic updates sent with BIND's own `nsupdate -l`
on the DNS host (the local session key of `update-policy local`), never by
restarting or reloading the server.
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from harness.setups.parts.dns.zone import NAMED_CONF, NAMED_DIR, ServiceRecords, ZONE, named_conf, zone_file
from harness.lab import resolver
from harness.lab.host import CommandFailed
from harness.lab.wait import wait_until
from harness.lab.resolver import DNSError

if TYPE_CHECKING:
    from harness.lab.host import Host

SERVICE = "named"
#: ClusterIPs below this offset in the service CIDR are left to the cluster
#: (the API service takes the first, kube-dns the tenth by convention)
FIRST_SERVICE_OFFSET = 20


class ClusterDNS:
    def __init__(self, host: Host, address: str, service_cidr):
        self.host, self.address = host, address
        self.service_cidr = ipaddress.ip_network(service_cidr)
        self.services: dict[tuple[str, str], ServiceRecords] = {}

    def __repr__(self) -> str:
        return f"<ClusterDNS BIND on {self.host.name} [{self.address}]>"

    # -- the server ----------------------------------------------------------
    def start(self, v4: bool, v6: bool) -> None:
        self.host.put_file(NAMED_CONF, named_conf(v4, v6))
        self.host.put_file(f"{NAMED_DIR}/{ZONE}.zone", zone_file(self.address))
        self.host.succeed(f"named-checkconf -z {NAMED_CONF}")
        svc = self.host.service(SERVICE).define(f"named -g -c {NAMED_CONF}", autostart=True)
        svc.wait_for_state("RUNNING", 15)
        wait_until(lambda: resolver.lookup(self.host, ZONE, "SOA", server=self.address).status == "NOERROR",
                   f"BIND on {self.host.name} to serve {ZONE}", 20)
        self.host.wait_until_succeeds(f"test -s {NAMED_DIR}/session.key", 10)

    def use_as_resolver(self, host: Host) -> None:
        host.put_file("/etc/resolv.conf", resolver.resolv_conf(self.address, ZONE))

    # -- records -------------------------------------------------------------
    def allocate_cluster_ip(self) -> str:
        taken = {r.cluster_ip for r in self.services.values()}
        for offset in range(FIRST_SERVICE_OFFSET, self.service_cidr.num_addresses - 1):
            ip = str(self.service_cidr[offset])
            if ip not in taken:
                return ip
        raise DNSError(f"service CIDR {self.service_cidr} has no free ClusterIP left")

    def _update(self, script: str) -> None:
        result = self.host.run(f"nsupdate -l -k {NAMED_DIR}/session.key", input=script)
        if not result.ok:
            raise CommandFailed(result, f"(RFC 2136 update of {ZONE} refused)")

    def set_service(self, name: str, namespace: str, pod_ips, headless: bool = False) -> ServiceRecords:
        key = (namespace, name)
        old = self.services.get(key)
        cluster_ip = None if headless else (old.cluster_ip if old and old.cluster_ip
                                            else self.allocate_cluster_ip())
        records = ServiceRecords(name, namespace, cluster_ip, tuple(pod_ips))
        self._update(records.nsupdate())
        self.services[key] = records
        return records
