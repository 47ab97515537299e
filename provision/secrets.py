"""Secrets the provisioner generates for a lab (never the documents' defaults)."""

from __future__ import annotations

import os
import secrets as _random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Secrets:
    haproxy_stats_password: str
    #: corosync's authkey (binary, as corosync-keygen writes it).
    corosync_authkey: bytes
    #: kubeadm's bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) for joining nodes.
    bootstrap_token: str = ""
    #: kubeadm's key for the control-plane certificates it uploads (32 bytes, hex).
    certificate_key: str = ""
    #: The Gluster volume service's key (HTTP Basic, with the plan's user).
    volume_service_key: str = ""

    @classmethod
    def generate(cls) -> Secrets:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        token = "".join(_random.choice(alphabet) for _ in range(6)) + "." + "".join(_random.choice(alphabet) for _ in range(16))
        return cls(_random.token_urlsafe(18), _random.token_bytes(256), token, _random.token_hex(32), _random.token_urlsafe(24))

    @classmethod
    def load_or_create(cls, directory: Path) -> Secrets:
        """Read the lab's secrets from ``directory``, creating each missing one (mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        fresh = cls.generate()
        files = {
            "haproxy-stats-password": fresh.haproxy_stats_password.encode(),
            "corosync-authkey": fresh.corosync_authkey,
            "kubeadm-bootstrap-token": fresh.bootstrap_token.encode(),
            "kubeadm-certificate-key": fresh.certificate_key.encode(),
            "volume-service-key": fresh.volume_service_key.encode(),
        }
        for name, data in files.items():
            path = directory / name
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        read = {name: (directory / name).read_bytes() for name in files}
        return cls(read["haproxy-stats-password"].decode(), read["corosync-authkey"],
                   read["kubeadm-bootstrap-token"].decode(), read["kubeadm-certificate-key"].decode(),
                   read["volume-service-key"].decode())
