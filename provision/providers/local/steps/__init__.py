"""Cross-host steps of the pipeline: each idempotent, each waits for its condition."""

from __future__ import annotations

from provision.errors import ProviderError
from provision.providers.base import Result


def must(res: Result, what: str) -> Result:
    if not res.ok:
        raise ProviderError(f"{what} failed ({res.rc}): {(res.stderr or res.stdout).strip()[-800:]}")
    return res
