"""The steps that build the lab, shared by every provider: each idempotent, each waits for
its condition. A step knows the provider contract (run, write, upload, shared_path, the
capabilities), never a provider: nothing here imports from provision.providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from provision.errors import ProviderError

if TYPE_CHECKING:
    from provision.providers.base import Result


def must(res: Result, what: str, diagnosis: Callable[[], str] | None = None) -> Result:
    """``diagnosis``: asked only on failure, for what the host was doing then."""
    if not res.ok:
        said = f"{what} failed ({res.rc}): {(res.stderr or res.stdout).strip()[-800:]}"
        raise ProviderError(f"{said}\n{diagnosis()}" if diagnosis else said)
    return res


def units_running(p, host: str, changed: bool, *units: str) -> None:
    """Units (re)loaded, enabled and restarted where their files or binaries changed; else
    only started if they are not running."""
    if changed:
        must(p.run(host, ["systemctl", "daemon-reload"], timeout=60), f"{host}: daemon-reload")
        must(p.run(host, ["systemctl", "enable", *units], timeout=60), f"{host}: enable {' '.join(units)}")
        must(p.run(host, ["systemctl", "restart", *units], timeout=60), f"{host}: restart {' '.join(units)}")
        p.changed(f"{host}: restarted {' '.join(units)}")
    else:
        p.ensure_active(host, *units)
