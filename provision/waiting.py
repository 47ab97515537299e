"""Waiting for a condition, bounded in time: the one way underhood waits (tenacity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from provision.errors import ProviderError

T = TypeVar("T")


def until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
          error: type[Exception] = ProviderError) -> T:
    """Call ``check`` every ``interval`` s until it returns something truthy, and return that;
    after ``timeout`` s raise ``error`` naming ``what``. Exceptions from ``check`` propagate."""
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda value: not value))
    try:
        return retrying(check)
    except RetryError:
        raise error(f"timed out after {timeout:.0f} s waiting for {what}") from None
