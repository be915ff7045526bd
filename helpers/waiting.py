"""Wait for the cluster to catch up: controllers, caches and the kubelet act a moment later.

:func:`poll_until` repeats a check until it returns something truthy and says how long
that took, or fails with one sentence naming what never happened; :func:`get_or_none` and
:func:`gone` read an object that may not exist (yet, or any more). They live with the
cluster layer (:mod:`helpers.cluster.waiting`), which waits the same way.

Example:
    >>> calls = iter([None, 0, "ready"])
    >>> value, elapsed = poll_until(lambda: next(calls), interval=0)
    >>> value
    'ready'
"""

from __future__ import annotations

from .cluster.waiting import deleted, get_or_none, gone, poll_until, read_until

__all__ = ["deleted", "get_or_none", "gone", "poll_until", "read_until"]
