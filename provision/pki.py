"""The lab's etcd certificates, made with openssl on this machine (kubeadm's pki layout)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from provision.errors import ProviderError

DAYS = "825"


def _openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise ProviderError(f"openssl {' '.join(args[:2])} failed: {res.stderr.strip()}")


def ensure_ca(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    if (d / "ca.crt").exists():
        return
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", DAYS, "-subj", "/CN=underhood-etcd-ca", cwd=d)


def ensure_cert(d: Path, name: str, cn: str, sans: list[str], usage: str) -> None:
    """A certificate signed by the CA: ``usage`` is serverAuth,clientAuth or clientAuth."""
    if (d / f"{name}.crt").exists():
        return
    ext = d / f"{name}.ext"
    lines = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment"]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", DAYS, "-extfile", ext.name, cwd=d)
