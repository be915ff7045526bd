"""What the test runs do only because of the machines they run on — never what a learner runs.

The other accommodation is ``.ci/docker-host/ensure`` (a Docker engine started by hand on CI
machines that have none running). Each one here says which trait of a busy test machine it
answers, and why it cannot change a verdict.
"""

from __future__ import annotations

import logging
import time
from typing import Any

#: Attempts to start one notebook's kernel.
KERNEL_STARTS = 3

log = logging.getLogger(__name__)


def retry_kernel_starts() -> None:
    """Start a notebook's kernel again when it died before it answered.

    jupyter_client picks the kernel's five ZeroMQ ports by binding port 0 and letting go;
    with six pytest-xdist workers starting kernels while the clusters' clients open
    connections, another process can take a port before the kernel binds it, and the kernel
    exits ("Kernel died before replying to kernel_info": a CI run lost notebook 12 so). A
    kernel that never started has run no cell, so starting it again hides no failure.
    """
    from nbval import kernel

    if getattr(kernel.start_new_kernel, "retries", False):
        return
    first_try = kernel.start_new_kernel

    def start_new_kernel(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, KERNEL_STARTS + 1):
            try:
                return first_try(*args, **kwargs)
            except RuntimeError:
                if attempt == KERNEL_STARTS:
                    raise
                log.warning("a notebook kernel died as it started; starting it again")
                time.sleep(attempt)
        raise AssertionError("unreachable")

    start_new_kernel.retries = True  # type: ignore[attr-defined]
    kernel.start_new_kernel = start_new_kernel
