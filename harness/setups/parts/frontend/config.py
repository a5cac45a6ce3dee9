"""The frontend's HAProxy config, generated from the options of seed 001's
configuration reference (`flyingcircus.kubernetes.frontend.<name>`), with
the shape seed 000 shows:

    defaults
        balance leastconn
    listen ingress
        bind 198.51.100.2:443
        bind [2a02:238:f030:::1000]:443
        server-template pod 20 *.ingress.default.svc.cluster.local:443 check resolvers cluster init-addr none

Every option of the reference is accepted under its documented name and
default; bad options are one clear error (`FrontendConfigError`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from harness.lab import templates
from harness.lab.net import bracketed
from harness.lab.collectors import Collector, VersionProbe
from harness.setups.parts.dns.zone import pods_fqdn, service_fqdn

STATS_SOCKET = "/run/haproxy/admin.sock"
#: seed 000/001: HAProxy "can discover backends via cluster DNS and scale
#: automatically"; the resolver hold is what bounds how fast it follows
RESOLVER_HOLD_S = 1
PORT_OPTIONS = ("podPort", "lbServicePort", "servicePort")
VERSION_PROBES = [VersionProbe("haproxy", "haproxy", "haproxy -v")]
COLLECTORS = [
    Collector(f"haproxy-{what.replace(' ', '-')}.txt",
              f"echo 'show {what}' | socat -t3 stdio unix-connect:{STATS_SOCKET}",
              f"command -v socat && runs haproxy && [ -S {STATS_SOCKET} ]")
    for what in ("servers state", "stat")
]


class FrontendConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FrontendOptions:
    name: str
    binds: tuple[str, ...]
    mode: str = "http"
    serviceName: str = ""
    namespace: str = "default"
    podPort: int | None = None
    lbServicePort: int | None = None
    servicePort: int | None = None
    maxExpectedPods: int = 10
    sslBackend: bool = False
    haproxyExtraConfig: str = ""
    extraPodTemplateOptions: str = ""
    #: addresses of the agents a LoadBalancer service port listens on (lbServicePort)
    lbAddresses: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, name: str, options: dict) -> FrontendOptions:
        where = f"frontend {name!r}"
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise FrontendConfigError(f"{where}: unknown option(s) {', '.join(unknown)} "
                                      f"(known: {', '.join(sorted(known))})")
        ports = [p for p in PORT_OPTIONS if options.get(p) is not None]
        if len(ports) != 1:
            raise FrontendConfigError(
                f"{where}: use exactly one of podPort, lbServicePort, servicePort "
                f"(they are mutually exclusive); got {', '.join(ports) if ports else 'none'}")
        port = options[ports[0]]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise FrontendConfigError(f"{where}: {ports[0]} must be a port number, got {port!r}")
        binds = options.get("binds")
        if not binds or isinstance(binds, str):
            raise FrontendConfigError(f"{where}: binds must be a non-empty list of address:port")
        if options.get("mode", "http") not in ("http", "tcp"):
            raise FrontendConfigError(f"{where}: mode must be http or tcp, got {options['mode']!r}")
        max_pods = options.get("maxExpectedPods", 10)
        if not isinstance(max_pods, int) or max_pods < 1:
            raise FrontendConfigError(f"{where}: maxExpectedPods must be a positive integer, got {max_pods!r}")
        if ports[0] == "lbServicePort" and not options.get("lbAddresses"):
            raise FrontendConfigError(f"{where}: lbServicePort needs the agents' addresses (lbAddresses)")
        values = dict(options, binds=tuple(binds), lbAddresses=tuple(options.get("lbAddresses", ())))
        values.setdefault("serviceName", name)
        return cls(name=name, **values)

    def server_lines(self) -> list[str]:
        extra = f" {self.haproxyExtraConfig}" if self.haproxyExtraConfig else ""
        ssl = " ssl verify none" if self.sslBackend else ""
        if self.podPort is not None:
            line = (f"server-template pod {self.maxExpectedPods} "
                    f"{pods_fqdn(self.serviceName, self.namespace)}:{self.podPort} "
                    f"check resolvers cluster init-addr none{ssl}{extra}")
            return [line + (f" {self.extraPodTemplateOptions}" if self.extraPodTemplateOptions else "")]
        if self.servicePort is not None:
            return [f"server service {service_fqdn(self.serviceName, self.namespace)}:{self.servicePort} "
                    f"check resolvers cluster init-addr none{ssl}{extra}"]
        return [f"server lb{i} {bracketed(addr)}:{self.lbServicePort} check{ssl}{extra}"
                for i, addr in enumerate(self.lbAddresses, 1)]


def render_config(frontends: list[FrontendOptions], nameserver: str,
                  stats_socket: str = STATS_SOCKET) -> str:
    """The whole config: the resolver, then one listen per frontend."""
    return templates.render(Path(__file__).parent, "haproxy.cfg.j2", stats_socket=stats_socket,
                            nameserver=nameserver, hold=RESOLVER_HOLD_S,
                            listens=[(f, f.server_lines()) for f in frontends])
