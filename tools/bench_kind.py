"""The kind side of ``make bench``: a fresh kind cluster, timed like the local one.

Deletes the course's kind cluster (it says so first), creates it again with the node
image already cached, and measures create → API ready → Node Ready → default
ServiceAccount → first Pod Running, and the node container's memory (``docker stats``).
"""

from __future__ import annotations

import re
import subprocess
import time

from helpers.cluster.errors import ClusterError
from helpers.cluster.progress import Progress

#: docker stats' memory units, in MiB.
_UNITS = {
    "B": 1 / 2**20,
    "KiB": 1 / 1024,
    "MiB": 1.0,
    "GiB": 1024.0,
    "kB": 1e3 / 2**20,
    "MB": 1e6 / 2**20,
    "GB": 1e9 / 2**20,
}


def parse_docker_memory(usage: str) -> float:
    """MiB in use from ``docker stats``' ``MemUsage`` column (``"458.2MiB / 23.4GiB"``).

    >>> parse_docker_memory("458.2MiB / 23.4GiB"), parse_docker_memory("1.5GiB / 23GiB")
    (458.2, 1536.0)
    """
    match = re.match(r"\s*([\d.]+)\s*([KMG]?i?B)", usage)
    if not match:
        raise ValueError(f"not a docker memory figure: {usage!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def node_memory_mib(node: str) -> float:
    """Memory of the kind node container, everything inside it included."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", node],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if out.returncode != 0:
        raise ClusterError(f"`docker stats {node}` failed: {out.stderr.strip()}")
    return parse_docker_memory(out.stdout)


def run_kind() -> dict[str, float | None]:
    """Recreate the kind cluster and time it; the figures, keyed like the local bench's."""
    from helpers.cluster import down, up
    from helpers.cluster.kind import NODE, KindBackend
    from helpers.cluster.kindimage import ensure_node_image

    from .firstpod import first_pod_seconds

    print("bench: re-creating the kind cluster to time a fresh start …", flush=True)
    ensure_node_image(progress=Progress(quiet=True))  # cached: measured apart, not here
    down(Progress(quiet=True), backend="kind")
    progress = Progress(quiet=True)
    started = time.monotonic()
    up(progress, backend="kind")
    ready = time.monotonic() - started
    marks = progress.timings
    pod, call = first_pod_seconds(KindBackend().kubeconfig)
    return {
        "kind create (node container up)": marks.get("created"),
        "up → API ready": marks.get("api_ready"),
        "up → default SA": marks.get("default_sa"),
        "up → Node Ready": marks.get("node_ready"),
        "up → Service network ready": marks.get("dns_ready"),
        "up → first Pod Running": ready + pod,
        "Pod Running → kubernetes.default.svc:443": call,
        "cluster memory (MiB)": node_memory_mib(NODE),
    }
