"""Wait for the cluster to catch up: controllers, caches and the kubelet act a moment later.

:func:`poll_until` repeats a check until it returns something truthy and says how long
that took, or fails with one sentence naming what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["poll_until"]

T = TypeVar("T")


def poll_until(
    check: Callable[[], T],
    *,
    timeout: float = 15,
    interval: float = 0.2,
    what: str = "the condition",
) -> tuple[T, float]:
    """Call ``check`` until it returns a truthy value; return it and the seconds it took.

    Args:
        check: A function without arguments, e.g. a lambda reading the cluster.
        timeout: Give up after this many seconds.
        interval: Pause between two calls.
        what: Words for the error message, e.g. ``"the default ServiceAccount"``.

    Returns:
        ``(value, elapsed_seconds)`` where ``value`` is the first truthy result.

    Raises:
        TimeoutError: If no call returned a truthy value within ``timeout``.

    Example:
        >>> calls = iter([None, 0, "ready"])
        >>> value, elapsed = poll_until(lambda: next(calls), interval=0)
        >>> value
        'ready'
    """
    start = time.monotonic()
    while True:
        value = check()
        elapsed = time.monotonic() - start
        if value:
            return value, elapsed
        if elapsed >= timeout:
            raise TimeoutError(f"Waited {timeout:g} s for {what}, but it did not happen.")
        time.sleep(interval)
