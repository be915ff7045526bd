"""Read kube-apiserver's Prometheus metrics: counters that record how tokens are used.

The API server counts, among much else, every use of a legacy token
(``serviceaccount_legacy_tokens_total``, split into ``…_legacy_auto_token_uses_total``
and ``…_legacy_manual_token_uses_total``), every use of an invalidated one
(``serviceaccount_invalid_legacy_auto_token_uses_total``) and every use of a projected
token after its ``warnafter`` (``serviceaccount_stale_tokens_total``). Counters only grow,
and on a shared cluster others make them grow too: compare before and after, and assert
"at least".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .course import Course

__all__ = ["metric_value", "read_metrics"]

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(?P<value>\S+)")


def metric_value(text: str, name: str) -> float | None:
    """The sum of all samples of metric ``name`` in Prometheus text format; ``None`` if absent.

    >>> text = "# TYPE a counter\\na 3\\nb{x=\\"1\\"} 2\\nb{x=\\"2\\"} 5\\n"
    >>> metric_value(text, "a"), metric_value(text, "b"), metric_value(text, "c")
    (3.0, 7.0, None)
    """
    total: float | None = None
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == name:
            total = (total or 0.0) + float(match["value"])
    return total


def read_metrics(course: Course, names: Iterable[str]) -> dict[str, float | None]:
    """Current values of API server metrics, read as the course admin (GET ``/metrics``)."""
    text = course.get_raw("/metrics").decode()
    return {name: metric_value(text, name) for name in names}
