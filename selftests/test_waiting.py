import time

import pytest

from provision.errors import ProviderError
from provision.waiting import until


def test_returns_the_first_truthy_value():
    calls = iter([None, 0, "", "ready"])
    assert until(lambda: next(calls), 5, "ready", interval=0.01) == "ready"


def test_times_out_naming_what_it_waited_for():
    start = time.monotonic()
    with pytest.raises(ProviderError, match="waiting for the moon"):
        until(lambda: False, 0.2, "the moon", interval=0.05)
    assert time.monotonic() - start < 2


def test_errors_of_the_check_propagate():
    def boom():
        raise AssertionError("probe ended")

    with pytest.raises(AssertionError, match="probe ended"):
        until(boom, 5, "x")
