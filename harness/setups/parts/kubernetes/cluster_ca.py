"""The cluster's certificate authority, in the flavour a setup's document uses:

- `cfssl` (seeds 000, 003): the harness signs every certificate with cfssl
  and puts it on its host, as easyCerts' CA would sign it;
- `easycerts` (seed 002, the NixOS module): "a certificate authority (CA)
  daemon (cfssl) on the kubernetes master node": `cfssl serve` on the master
  with an API token. Control-plane certificates are signed on the master's
  side; a node gets its own only through `nixos-kubernetes-node-join`, given
  the token on stdin. certmgr does not run: its specs are files the join
  script reads (cfssl's authenticated remote signing, `authsign`), and the
  harness starts the node's components once the script has its certificates.

Either way a certificate lands at `<directory>/<name>.pem` and
`<name>-key.pem` on its host, and kubeconfigs name those files.
"""
from __future__ import annotations

import json
import secrets
import shlex
from typing import TYPE_CHECKING

from harness.lab import templates
from harness.lab.host import HOST_BIN_DIR
from harness.lab.net import bracketed
from harness.model.setups import CONTROL_PLANE_ROLES
from harness.setups.parts import declares
from harness.setups.parts.kubernetes.layout import PART_DIR, PKI_DIR
from harness.setups.pki import SIGNING, Certificate, Pki

if TYPE_CHECKING:
    from harness.lab.host import Host

#: the NixOS module's secrets directory (services.kubernetes.secretsPath)
SECRETS_DIR = "/var/lib/kubernetes/secrets"
#: cfssl's default port, as the NixOS module's CA daemon listens
CFSSL_PORT = 8888
CFSSL_DIR = "/var/lib/cfssl"
#: where the join script finds what to request (certmgr's specs on NixOS)
SPECS_DIR = "/etc/kubernetes/certmgr"
JOIN_COMMAND = "nixos-kubernetes-node-join"


class JoinFailed(RuntimeError):
    pass


class ClusterPki(Pki):
    """The cluster's CA (`target.pki`) and where its files live on hosts."""
    directory = PKI_DIR

    def provision(self, host: Host, certificates: list[Certificate]) -> None:
        """The CA certificate and each of `certificates` on `host`."""
        host.put_file(f"{self.directory}/ca.pem", self.ca)
        for c in certificates:
            cert, key = self.issue(c)
            host.put_file(f"{self.directory}/{c.name}.pem", cert)
            host.put_file(f"{self.directory}/{c.name}-key.pem", key, mode=0o600)


def existing_ca(host: Host, directory: str) -> tuple[bytes, bytes] | None:
    """The CA a lab's master already holds (a lab attached again: its cluster
    runs on it, and a new one would not match), or None."""
    if not host.run(shlex.join(["test", "-s", f"{directory}/ca-key.pem"])).ok:
        return None
    return host.get_file(f"{directory}/ca.pem"), host.get_file(f"{directory}/ca-key.pem")


class EasyCerts(ClusterPki):
    """A CA daemon on the master; nodes join with its token."""
    directory = SECRETS_DIR

    def __init__(self, ca_name: str, master: Host, address: str):
        super().__init__(ca_name, existing_ca(master, CFSSL_DIR))
        self.master, self.address = master, address
        token_file = f"{CFSSL_DIR}/apitoken.secret"
        # cfssl's "standard" auth key: hex; kept where the master has one
        self.token = (master.get_file(token_file).decode()
                      if master.run(shlex.join(["test", "-s", token_file])).ok else secrets.token_hex(16))
        tls_cert, tls_key = self.issue(Certificate("cfssl", "cfssl", "server", hosts=(address,)))
        m = master
        m.put_file(f"{CFSSL_DIR}/ca.pem", self.ca)
        m.put_file(f"{CFSSL_DIR}/ca-key.pem", self.files["ca-key.pem"], mode=0o600)
        m.put_file(f"{CFSSL_DIR}/cfssl.pem", tls_cert)
        m.put_file(f"{CFSSL_DIR}/cfssl-key.pem", tls_key, mode=0o600)
        m.put_file(f"{CFSSL_DIR}/apitoken.secret", self.token, mode=0o600)
        profiles = {name: {**profile, "auth_key": "default"}
                    for name, profile in SIGNING["signing"]["profiles"].items()}
        m.put_file(f"{CFSSL_DIR}/ca-config.json", json.dumps({
            "signing": {"profiles": profiles},
            "auth_keys": {"default": {"type": "standard", "key": f"file:{CFSSL_DIR}/apitoken.secret"}},
        }), mode=0o600)
        m.service("cfssl").define([
            "cfssl", "serve", f"-address={address}", f"-port={CFSSL_PORT}",
            f"-ca={CFSSL_DIR}/ca.pem", f"-ca-key={CFSSL_DIR}/ca-key.pem",
            f"-config={CFSSL_DIR}/ca-config.json", f"-tls-cert={CFSSL_DIR}/cfssl.pem",
            f"-tls-key={CFSSL_DIR}/cfssl-key.pem"], autostart=True, autorestart=True)
        m.wait_for_port(CFSSL_PORT, timeout=30)

    @property
    def remote(self) -> str:
        return f"https://{bracketed(self.address)}:{CFSSL_PORT}"

    def provision(self, host: Host, certificates: list[Certificate]) -> None:
        if host is self.master:
            return super().provision(host, certificates)
        for c in certificates:
            host.put_file(f"{SPECS_DIR}/{c.name}.json", json.dumps(
                {"profile": c.profile, "request": c.request()}))
        host.put_file(f"{HOST_BIN_DIR}/{JOIN_COMMAND}", templates.render(
            PART_DIR, "nixos-kubernetes-node-join.sh.j2", secrets=SECRETS_DIR, specs=SPECS_DIR,
            remote=self.remote), mode=0o755)
        # the admin hands the master's token to the node (seed 002: "Given a token on stdin")
        token = self.master.get_file(f"{CFSSL_DIR}/apitoken.secret").decode()
        joined = host.run(JOIN_COMMAND, input=token, timeout=60)
        if not joined.ok:
            raise JoinFailed(f"{JOIN_COMMAND} on {host.name}: {joined.summary()}")


def _master(lab) -> Host:
    return next(h for h in lab.hosts.values() if set(h.roles) & CONTROL_PLANE_ROLES)


@declares(provides=("pki",))
def cfssl(lab, target) -> None:
    """The harness signs every certificate (seeds 000, 003)."""
    target.provide("pki", ClusterPki("kubernetes-ca", existing_ca(_master(lab), ClusterPki.directory)))


@declares(provides=("pki",))
def easycerts(lab, target) -> None:
    """easyCerts: the CA daemon on the master (seed 002)."""
    master = _master(lab)
    family = "ipv4" if "ipv4" in lab.topology.families else "ipv6"
    target.provide("pki", EasyCerts("kubernetes-ca", master, master.address(family=family)),
                   "easycerts")

