"""What the test runs do only because of the machines they run on — never what a learner runs.

The other accommodation is ``.ci/docker-host/ensure`` (a Docker engine started by hand on CI
machines that have none running). Each one here says which trait of a busy test machine it
answers, and why it cannot change a verdict.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

#: Attempts to start one notebook's kernel.
KERNEL_STARTS = 3

log = logging.getLogger(__name__)
_SOCKETS: list[str] = []


def _sockets() -> str:
    """This process's directory of kernel sockets (short: a socket path has 107 bytes at most)."""
    if not _SOCKETS:
        _SOCKETS.append(tempfile.mkdtemp(prefix="nbval-", dir="/tmp"))
        atexit.register(shutil.rmtree, _SOCKETS[0], ignore_errors=True)
    return _SOCKETS[0]


def kernels_over_unix_sockets() -> None:
    """Start nbval's kernels on Unix sockets, each in a directory of its own, and again if one died.

    jupyter_client picks a kernel's five TCP ports by binding port 0 and letting go; with six
    pytest-xdist workers starting kernels while the clusters' clients open connections, another
    process can take a port before the kernel binds it, and the kernel exits ("Kernel died
    before replying to kernel_info": runs lost notebook 12 and lab 17 so). The ipc transport
    names socket files instead, which no other process picks. A kernel that never started has
    run no cell, so starting it again (the second guard) hides no failure either. The kernel,
    the notebook and the cells are the ones a learner runs; only the wire between nbval and
    the kernel differs.
    """
    from nbval import kernel

    if getattr(kernel.start_new_kernel, "accommodated", False):
        return

    def start_new_kernel(
        startup_timeout: float = 60, kernel_name: str = "python", **kwargs: Any
    ) -> Any:
        for attempt in range(1, KERNEL_STARTS + 1):
            where = Path(tempfile.mkdtemp(dir=_sockets())) / "kernel"
            km = kernel.KernelManager(
                kernel_name=kernel_name,
                kernel_spec_manager=kernel.NbvalKernelspecManager(),
                transport="ipc",
                ip=str(where),
            )
            km.start_kernel(**kwargs)
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=startup_timeout)
                return km, kc
            except RuntimeError:
                kc.stop_channels()
                km.shutdown_kernel()
                if attempt == KERNEL_STARTS:
                    raise
                log.warning("a notebook kernel died as it started; starting it again")
                time.sleep(attempt)
        raise AssertionError("unreachable")

    start_new_kernel.accommodated = True  # type: ignore[attr-defined]
    kernel.start_new_kernel = start_new_kernel
