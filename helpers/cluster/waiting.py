"""Waiting for the cluster to catch up, the one way the course does it.

Controllers, caches and the kubelet act a moment after a request; the course waits for
them with :func:`poll_until`, which repeats a check until it returns something truthy and
says how long that took, or fails with one sentence naming what never happened. Reading
an object that may not exist yet (or any more) goes through :func:`get_or_none` or
:func:`gone`, deleting one that may be gone already through :func:`deleted`: "not found"
is an answer, every other error is an error.

    >>> calls = iter([None, 0, "ready"])
    >>> poll_until(lambda: next(calls), interval=0)[0]
    'ready'
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["deleted", "get_or_none", "gone", "poll_until", "read_until"]

T = TypeVar("T")


def poll_until(
    check: Callable[[], T],
    *,
    timeout: float = 15,
    interval: float = 0.2,
    what: str = "the condition",
    error: type[Exception] = TimeoutError,
    why: Callable[[], str] | None = None,
) -> tuple[T, float]:
    """Call ``check`` until it returns a truthy value; return it and the seconds it took.

    Args:
        check: A function without arguments, e.g. a lambda reading the cluster.
        timeout: Give up after this many seconds.
        interval: Pause between two calls.
        what: Words for the error message, e.g. ``"the default ServiceAccount"``.
        error: The exception raised on timeout (``TimeoutError``; the cluster layer and
            helpers a learner calls raise ClusterError, one sentence).
        why: Called on timeout for the last thing seen (``"it is Pending: …"``).

    Returns:
        ``(value, elapsed_seconds)`` where ``value`` is the first truthy result.
    """
    start = time.monotonic()
    while True:
        value = check()
        elapsed = time.monotonic() - start
        if value:
            return value, elapsed
        if elapsed >= timeout:
            seen = f": {why()}" if why else ""
            raise error(f"Waited {timeout:g} s for {what}, but it did not happen{seen}.")
        time.sleep(interval)


def read_until(
    read: Callable[[], T], done: Callable[[T], bool], *, timeout: float, interval: float = 0.2
) -> T:
    """``read()`` again until ``done`` holds for what it returned, or ``timeout`` passed;
    the last reading either way (for a caller that says itself what is wrong with it).

    >>> values = iter([1, 2, 3, 4])
    >>> read_until(lambda: next(values), lambda v: v >= 3, timeout=5, interval=0)
    3
    """
    last: list[T] = []

    def check() -> bool:
        last[:] = [read()]
        return done(last[0])

    with contextlib.suppress(TimeoutError):
        poll_until(check, timeout=timeout, interval=interval)
    return last[0]


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status", None)


def get_or_none(read: Callable[[], T]) -> T | None:
    """``read()``, or None if the API server answers 404 (any other error is raised).

    >>> class Missing(Exception):
    ...     status = 404
    >>> def read():
    ...     raise Missing()
    >>> get_or_none(read) is None, get_or_none(lambda: "pod")
    (True, 'pod')
    """
    try:
        return read()
    except Exception as exc:
        if _status(exc) == 404:
            return None
        raise


def deleted(delete: Callable[[], object]) -> bool:
    """``delete()``; True if it deleted something, False if the API server answered 404
    (it was gone already). Any other error is raised.

    >>> class Missing(Exception):
    ...     status = 404
    >>> def delete():
    ...     raise Missing()
    >>> deleted(delete), deleted(lambda: "Success")
    (False, True)
    """
    return get_or_none(lambda: delete() or True) is not None


def gone(read: Callable[[], object]) -> bool:
    """True once ``read()`` answers 404: the object is gone (for :func:`poll_until`)."""
    return get_or_none(read) is None
