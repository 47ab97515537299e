"""The steps that build the lab, shared by every provider: each idempotent, each waits for
its condition. A step knows the provider contract (run, write, upload, shared_path, the
capabilities), never a provider: nothing here imports from provision.providers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provision.errors import ProviderError

if TYPE_CHECKING:
    from provision.providers.base import Result


def must(res: Result, what: str) -> Result:
    if not res.ok:
        raise ProviderError(f"{what} failed ({res.rc}): {(res.stderr or res.stdout).strip()[-800:]}")
    return res
