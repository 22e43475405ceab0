"""A throw-away certificate authority for local clusters (openssl): serving and client certificates."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "3650"


@dataclass(frozen=True)
class Pki:
    """Files of one run: the CA, the API servers' serving pair, client pairs, the service-account keys."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.folder / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pair(folder: Path, name: str, subject: str, extensions: str) -> None:
    ext = folder / f"{name}.ext"
    ext.write_text(extensions, encoding="utf-8")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=folder)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", DAYS, "-extfile", ext.name, "-out", f"{name}.crt", cwd=folder,
    )  # fmt: skip


def create_pki(folder: Path, clients: dict[str, str]) -> Pki:
    """CA + serving certificate for 127.0.0.1 + one client certificate per ``name -> subject``."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=gitops-local-ca", "-days", DAYS, "-out", "ca.crt",
             cwd=folder)  # fmt: skip
    _pair(
        folder,
        "serving",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    for name, subject in clients.items():
        _pair(folder, name, subject, "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    _openssl("genrsa", "-out", "service-account.key", "2048", cwd=folder)
    _openssl("rsa", "-in", "service-account.key", "-pubout", "-out", "service-account.pub", cwd=folder)
    return Pki(folder)
