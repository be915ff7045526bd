"""``make bench``'s browser-classroom figures: sign-in to a running JupyterLab, and memory.

    python -m tools.bench_hub [--learners 6,30]

On the course cluster ``COURSE_BACKEND`` names (local or kind, as its admin): for each N,
sets up a workshop of N learners with its hub (``up --hub``), then signs every learner in at
once over HTTP, as a browser does (the sign-in form, the spawn, the single-user server's
OAuth), and times each learner from pressing *Sign in* to JupyterLab's page. Memory is the
learners' Pods' working set (the kubelet's stats summary where the API server proxies to
the node, else the Pod's cgroup) and the hub's own processes. Then the workshop goes down.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median
from urllib.parse import parse_qs, urlsplit

import requests
from kubernetes.client.exceptions import ApiException

from helpers.cluster.errors import ClusterError
from helpers.cluster.progress import Progress
from helpers.course import Course
from helpers.workshop.classroom import Workshop
from helpers.workshop.hub import Hub, HubSettings
from tools.bench_workshop import for_class_sizes

__all__ = ["main", "measure", "sign_in_and_wait"]

NAME = "hbb"
READY_TIMEOUT = 900


def sign_in_and_wait(link: str, prefix: str, timeout: float = READY_TIMEOUT) -> float:
    """Seconds from posting the sign-in form to JupyterLab's page of ``prefix``."""
    base = link[: link.index("/hub/")]
    code = parse_qs(urlsplit(link).query)["code"][0]
    with requests.Session() as s:
        s.get(f"{base}/hub/login", timeout=30)
        started = time.monotonic()
        s.post(
            f"{base}/hub/login",
            data={"_xsrf": s.cookies.get("_xsrf", ""), "username": "code", "password": code},
            timeout=60,
        )
        while time.monotonic() - started < timeout:
            r = s.get(f"{base}/user/{prefix}/lab", timeout=60)
            if r.status_code == 200 and re.search(r"<title>JupyterLab</title>", r.text):
                return time.monotonic() - started
            time.sleep(0.5)
    raise ClusterError(f"{prefix}'s JupyterLab was not ready within {timeout:.0f}s")


def pod_memory_mib(course: Course, namespaces: set[str]) -> dict[str, float]:
    """Working-set memory of each Pod in ``namespaces`` (namespace/name -> MiB), as the kubelet
    counts it: its summary API (``nodes/<node>/proxy/stats/summary``), read through the API
    server; the Pod's cgroup on this machine where the API server may not proxy to the node
    (it reaches the local cluster's kubelet as localhost, which it never proxies to)."""
    out: dict[str, float] = {}
    for node in course.core.list_node(_request_timeout=30).items:
        try:
            summary = json.loads(
                course.core.connect_get_node_proxy_with_path(
                    node.metadata.name, "stats/summary", _request_timeout=30, _preload_content=False
                ).data
            )
        except ApiException:  # the local node is reached by name, localhost: never proxied
            continue
        for pod in summary.get("pods", []):
            ref, working = pod["podRef"], pod.get("memory", {}).get("workingSetBytes")
            if ref["namespace"] in namespaces and working:
                out[f"{ref['namespace']}/{ref['name']}"] = working / 2**20
    for ns in namespaces:
        for pod in course.core.list_namespaced_pod(ns, _request_timeout=30).items:
            key = f"{ns}/{pod.metadata.name}"
            if key not in out and (mib := _cgroup_working_set_mib(pod.metadata.uid)) is not None:
                out[key] = mib
    return out


def _cgroup_working_set_mib(uid: str) -> float | None:
    for root, usage_file, inactive_key in (
        (Path("/sys/fs/cgroup/memory"), "memory.usage_in_bytes", "total_inactive_file"),
        (Path("/sys/fs/cgroup"), "memory.current", "inactive_file"),
    ):
        for cgroup in root.glob(f"**/pod{uid}"):
            try:
                usage = int((cgroup / usage_file).read_text())
                stat = dict(
                    line.split() for line in (cgroup / "memory.stat").read_text().splitlines()
                )
            except (OSError, ValueError):
                continue
            return (usage - int(stat.get(inactive_key, 0))) / 2**20
    return None


def _rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the hub and its proxy)."""
    total = 0.0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, AttributeError):
            continue
        pids += [int(c) for c in children]
    return total


def measure(course: Course, learners: int) -> dict[str, float | int | None]:
    """Up a workshop of ``learners`` with its hub, sign everyone in at once, measure, down."""
    ws = Workshop(course, NAME, Progress(quiet=True))
    hub = Hub(ws, HubSettings(port=8020, proxy_api_port=8021, hub_port=8092))
    hub.down()
    if ws.existing():
        ws.down()
    try:
        ws.up(learners, 3600)
        started = time.monotonic()
        links = hub.up(ws.existing(), 3600)
        hub_up = time.monotonic() - started
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=learners) as pool:
            seconds = list(
                pool.map(
                    lambda item: sign_in_and_wait(item[1].read_text().strip(), item[0]),
                    links.items(),
                )
            )
        all_ready = time.monotonic() - started
        time.sleep(5)  # let the servers settle
        homes = {f"{p}-home" for p in links}
        memory = pod_memory_mib(course, homes)
        hub_mib = _rss_mib(hub._pid())
    finally:
        hub.down()
        ws.down(wait=False)
    return {
        "learners": learners,
        "hub up (s)": round(hub_up, 1),
        "sign-in → JupyterLab, median (s)": round(median(seconds), 1),
        "sign-in → JupyterLab, slowest (s)": round(max(seconds), 1),
        "every server ready (s)": round(all_ready, 1),
        "MiB per learner's server (median)": round(median(memory.values()), 0) if memory else None,
        "MiB of all servers": round(sum(memory.values()), 0),
        "MiB of hub + proxy": round(hub_mib, 0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    return for_class_sizes("python -m tools.bench_hub", __doc__, measure, argv)


if __name__ == "__main__":
    raise SystemExit(main())
