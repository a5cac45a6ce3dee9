"""The kubernetes-frontend role's HAProxy on the lab's frontend host: configure
listens from seed 001 options, read HAProxy's runtime state from its stats
socket, send requests through a bind."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.setups.parts.frontend.config import RESOLVER_HOLD_S, STATS_SOCKET, FrontendOptions, render_config
from harness.lab.host import CommandFailed

if TYPE_CHECKING:
    from harness.lab.host import Host

CONFIG = "/etc/haproxy/harness.cfg"
SERVICE = "haproxy"
#: srv_op_state 2 is SRV_ST_RUNNING
RUNNING = "2"


@dataclass(frozen=True)
class ServerState:
    backend: str
    name: str
    address: str
    port: int
    op_state: str
    admin_state: int

    @property
    def up(self) -> bool:
        return self.op_state == RUNNING and self.admin_state & 0x20 == 0 and self.address not in ("-", "0.0.0.0", "::")


class HttpError(RuntimeError):
    """A request through the frontend got no proper answer."""


class HAProxyFrontend:
    def __init__(self, host: Host, nameserver: str):
        self.host, self.nameserver = host, nameserver
        self.frontends: dict[str, FrontendOptions] = {}
        #: seconds HAProxy keeps a DNS answer before asking again
        self.resolver_hold = RESOLVER_HOLD_S

    def __repr__(self) -> str:
        return f"<HAProxy frontend on {self.host.name}: {', '.join(self.frontends) or 'no listens'}>"

    def configure(self, name: str, **options) -> FrontendOptions:
        """Add or replace the listen `name` (seed 001 options), validate the
        whole config with `haproxy -c`, then restart HAProxy with it."""
        frontend = FrontendOptions.parse(name, options)
        wanted = dict(self.frontends, **{name: frontend})
        self.apply(wanted)
        return frontend

    def remove(self, name: str) -> None:
        self.apply({k: v for k, v in self.frontends.items() if k != name})

    def apply(self, frontends: dict[str, FrontendOptions]) -> None:
        text = render_config(list(frontends.values()), self.nameserver)
        self.host.put_file(CONFIG + ".new", text)
        check = self.host.run(f"haproxy -c -f {CONFIG}.new")
        if not check.ok:
            raise CommandFailed(check, "(generated HAProxy config rejected by haproxy -c)")
        self.host.succeed(f"mv {CONFIG}.new {CONFIG} && mkdir -p /run/haproxy")
        self.frontends = frontends
        svc = self.host.service(SERVICE)
        if svc.status() == "UNDEFINED":
            svc.define(f"haproxy -db -f {CONFIG}", autostart=True)
        else:
            svc.restart()
        svc.wait_for_state("RUNNING", 15)
        self.host.wait_until_succeeds(f"test -S {STATS_SOCKET}", 10)

    def admin(self, command: str) -> str:
        result = self.host.run(shlex.join(["socat", "-t", "2", "-", f"UNIX-CONNECT:{STATS_SOCKET}"]),
                               input=command + "\n")
        if not result.ok:
            raise CommandFailed(result, "(haproxy admin)")
        return result.stdout

    def servers(self, name: str) -> list[ServerState]:
        """The servers of listen `name` as HAProxy's runtime state has them."""
        lines = self.admin(f"show servers state {name}").splitlines()
        header = next(line for line in lines if line.startswith("# be_id")).lstrip("# ").split()
        out = []
        for line in lines:
            values = line.split()
            if line.startswith("#") or len(values) < len(header):
                continue  # the format version line, the header
            row = dict(zip(header, values))
            out.append(ServerState(row["be_name"], row["srv_name"], row["srv_addr"],
                                   int(row["srv_port"]), row["srv_op_state"], int(row["srv_admin_state"])))
        return out

    def sessions(self, name: str) -> int:
        """The sessions listen `name` has accepted since HAProxy started (the
        `stot` of its FRONTEND row in `show stat`)."""
        lines = self.admin("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == name and row.get("svname") == "FRONTEND":
                return int(row["stot"])
        raise LookupError(f"HAProxy on {self.host.name} has no listen {name!r}")

    def up_addresses(self, name: str) -> list[str]:
        return sorted(s.address for s in self.servers(name) if s.up)

    def request(self, bind: str, path: str = "/", client: Host | None = None) -> str:
        """GET through a bind ("addr:port" / "[v6]:port") from `client` (default
        the frontend host); returns the body of a 200 response. Any other
        status, or an empty 200, is an error that shows the whole exchange."""
        client = client or self.host
        url = f"http://{bind}{path}"
        result = client.run(shlex.join(["curl", "-sS", "-g", "-m", "3", "-D", "/dev/stderr",
                                        "-w", r"\n%{http_code}", url]))
        if not result.ok:
            raise CommandFailed(result, "failed")
        body, _, status = result.stdout.rpartition("\n")
        if status != "200" or not body.strip():
            raise HttpError(f"GET {url} from {client.name}: HTTP {status}, body {body[:300]!r}, "
                            f"headers {result.stderr.strip()!r}")
        return body.strip()

