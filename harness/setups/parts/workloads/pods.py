"""Pods: a network namespace on a node, attached by the real CNI bridge plugin.

The lab stands in for the kubelet and the container runtime (neither can run
on this machine) but keeps what a pod looks like on the wire: a network
namespace of its own inside the node, a veth into the node's `cni0` bridge
made by Debian's `containernetworking-plugins` bridge plugin, an address from
the node's pod subnet(s) handed out by the host-local IPAM plugin, the
bridge as its default gateway, no masquerading.

The namespace is made with `ip netns add` on the node, so its file lives in
the node's private /run and goes away with the lab. The pod's process runs
under the node's supervisord as `pod-<namespace>-<name>`, entered with
`nsenter --net=...` only: it keeps the node's mount namespace, which is how
`node.crash()` and lab teardown find and kill it.
"""
from __future__ import annotations

import json
import shlex
import xmlrpc.client
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.lab.host import CommandFailed, CommandResult
from harness.lab.supervisor import PROGRAM_DIR
from harness.lab.wait import wait_until

if TYPE_CHECKING:
    from harness.lab.host import Host
    from harness.model.topology import IPNetwork

CNI_PATH = "/usr/lib/cni"
CNI_NETWORK = "podnet"
BRIDGE = "cni0"
IPAM_DIR = "/var/lib/cni/networks"
SERVER_PATH = "/var/lib/harness/pod-http.py"
DEFAULT_PORT = 8080

#: the default pod program: answers every HTTP GET with the pod's name, on
#: every address of the pod (one dual-stack socket, so IPv4 and IPv6 alike)
POD_HTTP_SERVER = '''\
import http.server, socket, sys
name, port = sys.argv[1], int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (name + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
Server(("::", port), Handler).serve_forever()
'''


class PodError(RuntimeError):
    pass


@dataclass
class Pod:
    name: str
    namespace: str
    node: Host
    ips: list[str]
    netns: str
    port: int = DEFAULT_PORT
    #: the node's pod subnets the pod's addresses came from (for CNI DEL)
    subnets: tuple = ()

    def __repr__(self) -> str:
        return f"<Pod {self.namespace}/{self.name} on {self.node.name} {' '.join(self.ips)}>"

    @property
    def service_name(self) -> str:
        return service_name(self.namespace, self.name)

    def listening(self) -> bool:
        return bool(self.run(f"ss -tlnH 'sport = :{int(self.port)}'").stdout.strip())

    def wait_ready(self, timeout: float = 20) -> None:
        """Until the pod's server listens: like a Kubernetes readiness check,
        nothing may send it traffic before (a connection DNAT'd to a pod
        whose server is still starting is refused at once)."""
        wait_until(self.listening, f"pod {self.namespace}/{self.name} on {self.node.name} "
                   f"to listen on port {self.port}", timeout, interval=0.05)

    def run(self, cmd: str, timeout: float | None = 60) -> CommandResult:
        """Run a shell command inside the pod's network namespace on its node."""
        return self.node.run(shlex.join(["nsenter", f"--net=/run/netns/{self.netns}", "sh", "-c", cmd]),
                             timeout=timeout)


def service_name(namespace: str, name: str) -> str:
    return f"pod-{namespace}-{name}"


def cni_config(subnets: list[IPNetwork]) -> dict:
    """The bridge plugin's network config for a node's pod subnet(s)."""
    default_routes = [{"dst": "0.0.0.0/0" if s.version == 4 else "::/0"} for s in subnets]
    return {
        "cniVersion": "1.0.0", "name": CNI_NETWORK, "type": "bridge", "bridge": BRIDGE,
        "isGateway": True, "ipMasq": False, "hairpinMode": True,
        "ipam": {"type": "host-local", "dataDir": IPAM_DIR,
                 "ranges": [[{"subnet": str(s)}] for s in subnets], "routes": default_routes},
    }


def _cni(node: Host, command: str, netns: str, subnets: list[IPNetwork]) -> CommandResult:
    return node.run(shlex.join([
        "env", f"CNI_COMMAND={command}", f"CNI_CONTAINERID={netns}", f"CNI_NETNS=/run/netns/{netns}",
        "CNI_IFNAME=eth0", f"CNI_PATH={CNI_PATH}", f"{CNI_PATH}/bridge"]),
        input=json.dumps(cni_config(subnets)))


def default_command(name: str, port: int) -> str:
    return f"python3 {SERVER_PATH} {shlex.quote(name)} {int(port)}"


def create_pod(node: Host, name: str, namespace: str, subnets: list[IPNetwork],
               command: str | None = None, port: int = DEFAULT_PORT, wait_ready: bool = True) -> Pod:
    """Make the pod's namespace, attach it with the CNI bridge plugin and start
    its process (by default the HTTP server naming the pod on `port`, then,
    unless told not to, wait until it listens: Pod.wait_ready)."""
    if not subnets:
        raise PodError(f"node {node.name} has no pod subnet: it cannot host pod {namespace}/{name}")
    netns = service_name(namespace, name)
    node.succeed(shlex.join(["ip", "netns", "add", netns]) + " && "
                 + shlex.join(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"]))
    result = _cni(node, "ADD", netns, subnets)
    if not result.ok:
        node.run(shlex.join(["ip", "netns", "del", netns]))
        raise PodError(f"CNI bridge plugin ADD for pod {namespace}/{name} on {node.name} failed: "
                       f"{result.stdout.strip() or result.summary()}")
    ips = [ip["address"].split("/")[0] for ip in json.loads(result.stdout).get("ips", [])]
    if command is None:
        node.put_file(SERVER_PATH, POD_HTTP_SERVER)
        command = default_command(name, port)
    pod = Pod(name, namespace, node, ips, netns, port, tuple(subnets))
    node.service(pod.service_name).define(
        f"{shlex.join(['nsenter', f'--net=/run/netns/{netns}'])} {command}", autostart=True, startsecs=0)
    if wait_ready and command == default_command(name, port):
        pod.wait_ready()
    return pod


def _remove_program(node: Host, name: str) -> bool:
    """Remove a stopped program from the node's supervisord; False while it still runs."""
    try:
        node.supervisor_proxy().supervisor.removeProcessGroup(name)
    except xmlrpc.client.Fault as fault:
        if "STILL_RUNNING" in fault.faultString:
            return False
        if "BAD_NAME" not in fault.faultString:
            raise
    return True


def delete_pods(pods: list[Pod]) -> None:
    """Stop the pods' processes (all at once: supervisord stops take a tick of
    its ~1 s main loop each), release their addresses, remove their namespaces."""
    for pod in pods:
        try:
            pod.node.supervisor_proxy().supervisor.stopProcessGroup(pod.service_name, False)
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" not in fault.faultString:
                raise
    for pod in pods:
        node = pod.node
        wait_until(lambda: _remove_program(node, pod.service_name),
                   f"pod {pod.namespace}/{pod.name} to stop on {node.name}", timeout=20, interval=0.05)
        node.run(shlex.join(["rm", "-f", f"{PROGRAM_DIR}/{pod.service_name}.conf"]))
        result = _cni(node, "DEL", pod.netns, list(pod.subnets))
        if not result.ok:
            raise CommandFailed(result, f"(CNI DEL of pod {pod.namespace}/{pod.name})")
        node.succeed(shlex.join(["ip", "netns", "del", pod.netns]))


def delete_pod(pod: Pod) -> None:
    """Stop the pod's process, release its addresses and remove its namespace."""
    delete_pods([pod])
