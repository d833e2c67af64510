"""Certificates for a TLS engine of the test's own: a CA, a server certificate for the
engine's address and a client certificate, as ``dockerd --tlsverify`` and
``DOCKER_CERT_PATH`` expect them (made with the openssl command, in seconds)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificates:
    server: Path  # ca.pem, server-cert.pem, server-key.pem (for dockerd)
    client: Path  # ca.pem, cert.pem, key.pem (a DOCKER_CERT_PATH)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(root: Path, *, ip: str, name: str = "ca") -> Certificates:
    """Under ``root``: a CA named ``name`` that signs a server certificate for ``ip`` and
    a client certificate."""
    server, client = root / "server", root / "client"
    for folder in (root, server, client):
        folder.mkdir(parents=True, exist_ok=True)
    days = ("-days", "2")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
             "-out", "ca.pem", "-subj", f"/CN={name}", *days, cwd=root)  # fmt: skip
    (root / "server.ext").write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    (root / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, ext in (("server", "server.ext"), ("client", "client.ext")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem",
                 "-out", f"{who}.csr", "-subj", f"/CN={who}", cwd=root)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{who}-cert.pem", "-extfile", ext, *days,
                 cwd=root)  # fmt: skip
    ca = (root / "ca.pem").read_bytes()
    (server / "ca.pem").write_bytes(ca)
    (server / "server-cert.pem").write_bytes((root / "server-cert.pem").read_bytes())
    (server / "server-key.pem").write_bytes((root / "server-key.pem").read_bytes())
    (client / "ca.pem").write_bytes(ca)
    (client / "cert.pem").write_bytes((root / "client-cert.pem").read_bytes())
    (client / "key.pem").write_bytes((root / "client-key.pem").read_bytes())
    return Certificates(server=server, client=client)
