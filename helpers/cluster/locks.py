"""File locks, so two processes of the course never build or install the same thing at once.

``make test`` runs the local and the kind cluster side by side, and both may need the same
build (Kubernetes, the pause image) or Debian packages at the same moment on a fresh
machine. The second one waits for the first, then finds the work done.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ClusterError
from .progress import Progress

__all__ = ["APT_LOCK", "file_lock"]

#: apt and dpkg refuse to run twice; the course's processes (and .ci/docker-host/ensure, with
#: flock(1) on the same file) take this lock around every apt-get.
APT_LOCK = Path("/run/lock/sa-course-apt.lock")


@contextlib.contextmanager
def file_lock(
    path: Path, what: str, progress: Progress | None = None, timeout: float = 3600
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` while the block runs; wait (saying so) if taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress.say(f"  waiting for another process that is {what}")
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ClusterError(
                            f"Another process has been {what} for over {timeout / 60:.0f} "
                            f"minutes (lock {path}): stop it, or remove the lock, and retry."
                        ) from None
                    time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
