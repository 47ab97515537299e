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

    @classmethod
    def generate(cls) -> Secrets:
        return cls(_random.token_urlsafe(18), _random.token_bytes(256))

    @classmethod
    def load_or_create(cls, directory: Path) -> Secrets:
        """Read the lab's secrets from ``directory``, creating them (mode 0600) the first time."""
        directory.mkdir(parents=True, exist_ok=True)
        pw, key = directory / "haproxy-stats-password", directory / "corosync-authkey"
        if not (pw.exists() and key.exists()):
            fresh = cls.generate()
            for path, data in ((pw, fresh.haproxy_stats_password.encode()), (key, fresh.corosync_authkey)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        return cls(pw.read_text(), key.read_bytes())
