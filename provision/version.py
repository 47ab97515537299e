"""The version of underhood that ran: the package's, and the commit when it runs from a checkout."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "underhood"


@cache
def version() -> str:
    """`0.1.0`, or `0.1.0+g1a2b3c4` (`.dirty` with uncommitted changes) from a git checkout,
    so a report says which code produced it."""
    try:
        base = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        base = "0+unknown"  # imported from a source tree that was never installed
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / ".git").exists():
        return base
    try:
        res = subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty=.dirty", "--abbrev=7", "--exclude", "*"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return base
    return f"{base}+g{res.stdout.strip()}" if res.returncode == 0 and res.stdout.strip() else base
