"""helpers.waiting.poll_until."""

from __future__ import annotations

import pytest

from helpers.waiting import poll_until


def test_returns_the_first_truthy_value() -> None:
    answers = iter([False, [], "yes", "later"])
    value, elapsed = poll_until(lambda: next(answers), interval=0)
    assert value == "yes"
    assert elapsed >= 0


def test_times_out_with_one_sentence() -> None:
    with pytest.raises(TimeoutError, match=r"Waited 0\.05 s for the default ServiceAccount"):
        poll_until(lambda: None, timeout=0.05, interval=0.01, what="the default ServiceAccount")


def test_checks_at_least_once_even_with_zero_timeout() -> None:
    calls = []
    value, _ = poll_until(lambda: calls.append(1) or len(calls), timeout=0)
    assert value == 1
