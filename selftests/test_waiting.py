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


def test_long_waits_say_what_they_wait_for(monkeypatch):
    from provision import waiting

    heard: list[str] = []
    monkeypatch.setattr(waiting, "QUIET_S", 0.0)
    waiting.tell(heard.append)
    try:
        answers = iter([None, None, "yes"])
        assert waiting.until(lambda: next(answers), 5, "the VIP answering", interval=0.01) == "yes"
        assert heard[0].startswith("  waiting for the VIP answering (up to 5 s") and heard[-1].startswith("  the VIP answering: after")
        heard.clear()
        assert waiting.until(lambda: 1, 5, "at once") == 1
        assert heard == []  # nothing to say about a wait that did not wait
        with pytest.raises(Exception, match="timed out"):
            waiting.until(lambda: None, 0.05, "never", interval=0.01)
        assert heard[-1] == "  timed out after 0 s waiting for never"
    finally:
        waiting.tell(None)
