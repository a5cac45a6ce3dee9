"""The cluster PKI as the NixOS module's easyCerts makes it: cfssl (Debian
golang-cfssl) generates a CA and signs one certificate per component and
per node (seed 002: "cfssl generates a CA-cert for the cluster, and uses the
CA-cert for signing subordinate certs issued to each of the cluster
components").

cfssl runs on the machine that drives the lab, in a private temporary
directory; the keys reach each host only through put_file and never appear
in a log or a report.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
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


@dataclass
class Pki:
    """The CA and the signed certificates, as PEM bytes by file name."""
    files: dict[str, bytes] = field(default_factory=dict)

    def cert(self, name: str) -> bytes:
        return self.files[f"{name}.pem"]

    def key(self, name: str) -> bytes:
        return self.files[f"{name}-key.pem"]

    @property
    def ca(self) -> bytes:
        return self.files["ca.pem"]


def _cfssl(args: list[str], request: dict, cwd: Path) -> dict:
    result = subprocess.run(["cfssl", *args, "-"], input=json.dumps(request).encode(), cwd=cwd,
                            capture_output=True)
    if result.returncode != 0:
        # cfssl's stderr names the problem; it never holds key material
        raise PkiError(f"cfssl {args[0]} failed: {result.stderr.decode(errors='replace')[-500:]}")
    return json.loads(result.stdout)


def make(certificates: list[Certificate], ca_name: str = "kubernetes-ca") -> Pki:
    pki = Pki()
    with tempfile.TemporaryDirectory(prefix="harness-pki-") as tmp:
        work = Path(tmp)
        ca = _cfssl(["gencert", "-initca"], {"CN": ca_name, "key": KEY,
                                             "ca": {"expiry": VALIDITY}}, work)
        (work / "ca.pem").write_text(ca["cert"])
        (work / "ca-key.pem").write_text(ca["key"])
        (work / "signing.json").write_text(json.dumps(SIGNING))
        pki.files["ca.pem"], pki.files["ca-key.pem"] = ca["cert"].encode(), ca["key"].encode()
        for c in certificates:
            request = {"CN": c.cn, "key": KEY, "hosts": list(c.hosts),
                       "names": [{"O": c.organisation}] if c.organisation else []}
            signed = _cfssl(["gencert", "-ca=ca.pem", "-ca-key=ca-key.pem",
                             "-config=signing.json", f"-profile={c.profile}"], request, work)
            pki.files[f"{c.name}.pem"] = signed["cert"].encode()
            pki.files[f"{c.name}-key.pem"] = signed["key"].encode()
    return pki
