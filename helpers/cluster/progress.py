"""Progress lines for long work (builds, start-up, waits), in a terminal and in a notebook."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    """Prints timestamped progress lines and records how long each stage took.

    >>> p = Progress(quiet=True)
    >>> with p.stage("nothing"):
    ...     pass
    >>> list(p.timings)
    ['nothing']
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}

    def elapsed(self) -> float:
        """Seconds since this Progress was created."""
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        """Print one line, prefixed with the elapsed time."""
        if not self.quiet:
            print(f"[{self.elapsed():6.1f}s] {message}", file=sys.stdout, flush=True)

    def mark(self, name: str) -> None:
        """Record that milestone ``name`` was reached now (seconds since start)."""
        self.timings[name] = self.elapsed()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Announce a stage, then say how long it took."""
        start = time.monotonic()
        self.say(f"{name} …")
        yield
        took = time.monotonic() - start
        self.timings[name] = took
        self.say(f"{name}: done in {took:.1f}s")
