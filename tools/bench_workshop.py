"""``make bench``'s workshop figures: provisioning, API server memory and teardown, for N learners.

    python -m tools.bench_workshop [--learners 6,30]

Runs on the course cluster in use (as its admin): for each N, sets up a workshop of N
learners, measures, tears it down (proving every kubeconfig gets 401) and measures again.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from helpers.cluster.errors import ClusterError
from helpers.cluster.progress import Progress
from helpers.course import Course, connect
from helpers.workshop.classroom import Workshop

__all__ = ["for_class_sizes", "main", "measure"]


def _apiserver_mib(course: Course) -> float | None:
    """Resident memory of kube-apiserver, where this machine can see it (local cluster)."""
    return course.node.rss_mib("kube-apiserver") if course.node else None


def measure(course: Course, learners: int) -> dict[str, float | int | None]:
    """Up, then down, a workshop of ``learners``; seconds and MiB."""
    ws = Workshop(course, "bench", Progress(quiet=True))
    if ws.existing():
        ws.down()
    before = _apiserver_mib(course)
    started = time.monotonic()
    ws.up(learners, 3600)
    up_s = time.monotonic() - started
    time.sleep(2)  # let the watch caches settle
    with_learners = _apiserver_mib(course)
    started = time.monotonic()
    ws.down(wait=False)  # everything deleted, and every kubeconfig proven to get 401
    revoked_s = time.monotonic() - started
    ws.wait_namespaces_gone(timeout=600)
    gone_s = time.monotonic() - started
    return {
        "learners": learners,
        "up (s)": round(up_s, 1),
        "s per learner": round(up_s / learners, 2),
        "API server MiB before": round(before, 0) if before else None,
        "API server MiB with learners": round(with_learners, 0) if with_learners else None,
        "down: all 401 (s)": round(revoked_s, 1),
        "down: namespaces gone (s)": round(gone_s, 1),
    }


def for_class_sizes(
    prog: str,
    description: str | None,
    measure_one: Callable[[Course, int], dict[str, Any]],
    argv: Sequence[str] | None = None,
) -> int:
    """``--learners 6,30``: one row of ``measure_one`` per class size, printed as a table."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--learners", default="6,30", help="comma-separated class sizes")
    args = parser.parse_args(argv)
    try:
        course = connect(start=False)
        rows = []
        for n in (int(x) for x in args.learners.split(",")):
            print(f"bench: a workshop of {n} learners …", flush=True)
            rows.append(measure_one(course, n))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return for_class_sizes("python -m tools.bench_workshop", __doc__, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
