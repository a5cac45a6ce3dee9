"""The kubernetes-frontend role's HAProxy on the lab's frontend host: configure
listens from seed 001 options, read HAProxy's runtime state from its stats
socket, send requests through a bind."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
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
    """HAProxy on `host` as the setup runs it; with `home`, an HAProxy of the
    run's own beside the host's (its config, stats socket and service there)."""

    def __init__(self, host: Host, nameserver: str, home: str | None = None):
        self.host, self.nameserver = host, nameserver
        self.config = f"{home}/haproxy.cfg" if home else CONFIG
        self.stats_socket = f"{home}/haproxy.sock" if home else STATS_SOCKET
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
        text = render_config(list(frontends.values()), self.nameserver, self.stats_socket)
        self.host.put_file(self.config + ".new", text)
        check = self.host.run(f"haproxy -c -f {self.config}.new")
        if not check.ok:
            raise CommandFailed(check, "(generated HAProxy config rejected by haproxy -c)")
        self.host.succeed(f"mv {self.config}.new {self.config} && "
                          f"mkdir -p {shlex.quote(str(PurePosixPath(self.stats_socket).parent))}")
        self.frontends = frontends
        svc = self.host.service(SERVICE)
        if svc.status() == "UNDEFINED":
            svc.define(f"haproxy -db -f {self.config}", autostart=True)
        else:
            svc.restart()
        svc.wait_for_state("RUNNING", 15)
        self.host.wait_until_succeeds(f"test -S {self.stats_socket}", 10)

    def admin(self, command: str) -> str:
        result = self.host.run(shlex.join(["socat", "-t", "2", "-", f"UNIX-CONNECT:{self.stats_socket}"]),
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

