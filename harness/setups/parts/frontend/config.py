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

from harness.lab.net import bracketed
from harness.lab.collectors import Collector
from harness.setups.parts.dns.zone import pods_fqdn, service_fqdn

STATS_SOCKET = "/run/haproxy/admin.sock"
#: seed 000/001: HAProxy "can discover backends via cluster DNS and scale
#: automatically"; the resolver hold is what bounds how fast it follows
RESOLVER_HOLD_S = 1
PORT_OPTIONS = ("podPort", "lbServicePort", "servicePort")
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

    def render(self) -> str:
        lines = [f"listen {self.name}", f"    mode {self.mode}"]
        lines += [f"    bind {b}" for b in self.binds]
        if self.mode == "http":
            lines.append("    option forwardfor")
        lines += [f"    {line}" for line in self.server_lines()]
        return "\n".join(lines) + "\n"


def render_config(frontends: list[FrontendOptions], nameserver: str) -> str:
    head = f"""\
# written by the harness from flyingcircus.kubernetes.frontend options (seed 001)
global
    stats socket {STATS_SOCKET} mode 600 level admin expose-fd listeners
    maxconn 4096

defaults
    balance leastconn
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    default-server inter 1s fall 2 rise 1

resolvers cluster
    nameserver dns {bracketed(nameserver)}:53
    accepted_payload_size 8192
    resolve_retries 3
    # how often the resolvers wake: hold valid (1 s) then bounds how old an
    # answer gets; a 1 s wake-up made answers up to 2 s old (p95 2.7 s)
    timeout resolve 100ms
    timeout retry 1s
    hold valid {RESOLVER_HOLD_S}s
    hold obsolete 0s
    hold nx {RESOLVER_HOLD_S}s
    hold other {RESOLVER_HOLD_S}s
    hold refused {RESOLVER_HOLD_S}s
    hold timeout {RESOLVER_HOLD_S}s
"""
    return head + "".join("\n" + f.render() for f in frontends)
