"""Certificate authorities made with cfssl (Debian golang-cfssl), as the NixOS
module's easyCerts makes the cluster's (seed 002: "cfssl generates a CA-cert
for the cluster, and uses the CA-cert for signing subordinate certs issued to
each of the cluster components"). One maker for every setup: the Kubernetes
PKI, etcd's certificates and the webgateway's.

cfssl runs on the machine that drives the lab, in a private temporary
directory; keys reach a host only through put_file and never appear in a
log or a report. A certificate is signed when a part first asks for it.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: seed 000: "The certificate is valid for 365 days"
VALIDITY = "8760h"
KEY = {"algo": "ecdsa", "size": 256}

SIGNING = {"signing": {"profiles": {
    "server": {"usages": ["signing", "key encipherment", "server auth"], "expiry": VALIDITY},
    "client": {"usages": ["signing", "key encipherment", "client auth"], "expiry": VALIDITY},
    "peer": {"usages": ["signing", "key encipherment", "server auth", "client auth"],
             "expiry": VALIDITY},
}}}


class PkiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Certificate:
    """One certificate to sign: its CN, organisation (Kubernetes groups),
    names and addresses, and the cfssl profile (server, client, peer)."""
    name: str                 # file stem: <name>.pem, <name>-key.pem
    cn: str
    profile: str
    organisation: str = ""
    hosts: tuple[str, ...] = ()

    def request(self) -> dict:
        """cfssl's certificate signing request for it."""
        return {"CN": self.cn, "key": KEY, "hosts": list(self.hosts),
                "names": [{"O": self.organisation}] if self.organisation else []}


def cfssl(args: list[str], request: dict, cwd: Path) -> dict:
    result = subprocess.run(["cfssl", *args, "-"], input=json.dumps(request).encode(), cwd=cwd,
                            capture_output=True)
    if result.returncode != 0:
        # cfssl's stderr names the problem; it never holds key material
        raise PkiError(f"cfssl {args[0]} failed: {result.stderr.decode(errors='replace')[-500:]}")
    return json.loads(result.stdout)


class Pki:
    """A CA and the certificates it signed, as PEM bytes by file name
    (`ca.pem`, `ca-key.pem`, `<name>.pem`, `<name>-key.pem`)."""

    def __init__(self, ca_name: str, existing: tuple[bytes, bytes] | None = None):
        """A new CA named `ca_name`, or the `existing` one (certificate, key)."""
        self.files: dict[str, bytes] = {}
        if existing is None:
            with tempfile.TemporaryDirectory(prefix="harness-pki-") as tmp:
                ca = cfssl(["gencert", "-initca"], {"CN": ca_name, "key": KEY,
                                                    "ca": {"expiry": VALIDITY}}, Path(tmp))
            existing = ca["cert"].encode(), ca["key"].encode()
        self.files["ca.pem"], self.files["ca-key.pem"] = existing

    @property
    def ca(self) -> bytes:
        return self.files["ca.pem"]

    def issue(self, certificate: Certificate) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM), signed on first use."""
        if f"{certificate.name}.pem" not in self.files:
            with tempfile.TemporaryDirectory(prefix="harness-pki-") as tmp:
                work = Path(tmp)
                (work / "ca.pem").write_bytes(self.ca)
                (work / "ca-key.pem").write_bytes(self.files["ca-key.pem"])
                (work / "signing.json").write_text(json.dumps(SIGNING))
                signed = cfssl(["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem", "-config=signing.json",
                                f"-profile={certificate.profile}"], certificate.request(), work)
            self.files[f"{certificate.name}.pem"] = signed["cert"].encode()
            self.files[f"{certificate.name}-key.pem"] = signed["key"].encode()
        return self.cert(certificate.name), self.key(certificate.name)

    def cert(self, name: str) -> bytes:
        return self.files[f"{name}.pem"]

    def key(self, name: str) -> bytes:
        return self.files[f"{name}-key.pem"]
