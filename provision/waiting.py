"""Waiting for a condition, bounded in time: the one way underhood waits (tenacity)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from provision.errors import ProviderError

T = TypeVar("T")

#: Where long waits say what they wait for (chaos sets it to the terminal); none by default.
_listeners: list[Callable[[str], None]] = []
#: A wait shorter than this says nothing.
QUIET_S = 3.0


def tell(listener: Callable[[str], None] | None) -> None:
    """Send what long waits wait for to ``listener`` (None: to nobody)."""
    _listeners[:] = [listener] if listener else []


def say(text: str) -> None:
    for listener in _listeners:
        listener(text)


def until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
          error: type[Exception] = ProviderError) -> T:
    """Call ``check`` every ``interval`` s until it returns something truthy, and return that;
    after ``timeout`` s raise ``error`` naming ``what``. Exceptions from ``check`` propagate."""
    start = time.monotonic()
    told = False

    def before_sleep(state) -> None:
        nonlocal told
        if not told and _listeners and time.monotonic() - start >= QUIET_S:
            told = True
            say(f"  waiting for {what} (up to {timeout:.0f} s, {time.monotonic() - start:.0f} s so far)")

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda value: not value),
                        before_sleep=before_sleep)
    try:
        value = retrying(check)
    except RetryError:
        say(f"  timed out after {timeout:.0f} s waiting for {what}")
        raise error(f"timed out after {timeout:.0f} s waiting for {what}") from None
    if told:
        say(f"  {what}: after {time.monotonic() - start:.1f} s")
    return value
