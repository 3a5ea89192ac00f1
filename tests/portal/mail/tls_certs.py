"""Test certificates made with the openssl command (the `cryptography` package is not in
the virtual environment): a self-signed CA, and a server certificate that the CA signs
for 127.0.0.1 and localhost. Keys are P-256, so that making them takes milliseconds."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.portal.mail.dovecot import TlsFiles

OPENSSL = "openssl"
DAYS = "2"
SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: Path
    key: Path


def _openssl(*args: str) -> None:
    result = subprocess.run([OPENSSL, *args], capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.decode()}")


def make_ca(folder: Path, name: str) -> CertificateAuthority:
    """Write a self-signed CA certificate and its key into `folder`."""
    authority = CertificateAuthority(folder / f"{name}.pem", folder / f"{name}.key")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(authority.key),
        "-out",
        str(authority.certificate),
        "-days",
        DAYS,
        "-subj",
        f"/CN=MiPortal test CA {name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    return authority


def make_server_certificate(folder: Path, authority: CertificateAuthority) -> TlsFiles:
    """Write a server certificate for 127.0.0.1 and localhost, signed by `authority`."""
    files = TlsFiles(folder / "server.pem", folder / "server.key")
    request = folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text(SERVER_EXTENSIONS, encoding="ascii")
    _openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(files.key),
        "-out",
        str(request),
        "-subj",
        "/CN=localhost",
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(request),
        "-CA",
        str(authority.certificate),
        "-CAkey",
        str(authority.key),
        "-CAcreateserial",
        "-out",
        str(files.certificate),
        "-days",
        DAYS,
        "-extfile",
        str(extensions),
    )
    return files
