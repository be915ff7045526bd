"""The first Pod on a fresh cluster: how long until it runs, and until it reaches the API.

Shared by ``make bench``'s local and kind sides.
"""

from __future__ import annotations

import time
from pathlib import Path

#: From inside a Pod: resolve the API's Service name and open a TCP connection to it.
FIRST_CALL = "until nc -w 1 kubernetes.default.svc 443 </dev/null; do sleep 0.05; done"


def first_pod_seconds(kubeconfig: Path) -> tuple[float, float]:
    """Seconds from creating a busybox Pod to Running, then to its first connection to the API.

    The connection goes the way every Pod's does: CoreDNS answers for
    ``kubernetes.default.svc``, kube-proxy's rules lead the ClusterIP to the API server.
    """
    from helpers.course import connect
    from helpers.pods import busybox_pod, exec_in_pod, run_pod

    course = connect(start=False)
    ns = course.fresh_namespace("bench")
    started = time.monotonic()
    run_pod(course.core, ns, busybox_pod("first"))
    running = time.monotonic()
    exec_in_pod(course.core, ns, "first", ["sh", "-c", f"timeout 30 sh -c '{FIRST_CALL}'"])
    called = time.monotonic()
    course.delete_namespace(ns)
    return running - started, called - running
