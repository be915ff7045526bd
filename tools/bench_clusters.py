"""``make bench``: how fast the course's clusters build and start, and their memory.

Restarts the local cluster at the oldest Kubernetes the course supports and at the newest,
and, where Docker answers, re-creates the kind cluster (it says so first), and prints them
side by side; the local cluster is left running at the newest. The cold build is measured
when it really happens (first ``up`` on a machine) and recorded in the cache; ``--cold``
wipes the build cache and measures it again (10–20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import pandas as pd

from helpers.cluster import build, config, host, versions
from helpers.cluster.errors import ClusterError
from helpers.cluster.local import LocalCluster, _rss_mib
from helpers.cluster.progress import Progress
from helpers.cluster.settings import chosen

from .firstpod import first_pod_seconds

TARGETS = {
    "cold build (one-off)": 20 * 60,
    "warm set-up (no-op)": 5,
    "up → API ready": 5,
    "up → default SA": None,
    "up → Node Ready": None,
    "up → Service network ready": None,
    "up → first Pod Running": 6,
    "Pod Running → kubernetes.default.svc:443": None,
    "cluster memory (MiB)": 800,
}


def cluster_rss_mib(cluster: LocalCluster) -> float:
    """Resident memory of every process of the cluster: components, shims, containers."""
    pids = {c.pid for c in cluster.status().components if c.pid}
    pids |= set(host.pids_mentioning(cluster.layout.state)) | host.cgroup_pids()
    return sum(_rss_mib(pid) for pid in pids)


def warm_setup_seconds(version: str = "") -> float:
    """Seconds for the no-op set-up of a warm machine: ``make build`` (venv, binaries, images)."""
    env = {**os.environ, versions.ENV: version} if version else None
    started = time.monotonic()
    cmd = ["make", "-s", "build"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600, env=env)
    return time.monotonic() - started


def run_local(cold: bool = False, version: str | None = None) -> dict[str, float | None]:
    """Restart the local cluster at ``version`` (default: the newest; rebuild with ``cold``)."""
    with chosen(kubernetes=version or ""):
        return _run_local(cold, version or "")


def _run_local(cold: bool, version: str) -> dict[str, float | None]:
    layout = config.Layout()
    results: dict[str, float | None] = dict.fromkeys(TARGETS)
    cluster = LocalCluster(layout, Progress(quiet=True))
    print("bench: restarting the local cluster to time a fresh start …", flush=True)
    cluster.down(quiet=True)
    if cold:
        print("bench: wiping the build cache to time a cold build …", flush=True)
        for path in (layout.gomodcache, layout.gocache, layout.bin, layout.src, layout.images):
            shutil.rmtree(path, ignore_errors=True)
        started = time.monotonic()
        build.ensure_all_built(layout, Progress())
        results["cold build (one-off)"] = time.monotonic() - started
    else:
        results["cold build (one-off)"] = build.recorded_cold_build_seconds(layout)
    results["warm set-up (no-op)"] = warm_setup_seconds(version)
    progress = Progress(quiet=True)
    cluster = LocalCluster(layout, progress)
    from helpers.cluster import up

    up(progress, backend="local")  # records the cluster, so notebooks and tests find it
    results["up → API ready"] = progress.timings.get("api_ready")
    results["up → default SA"] = progress.timings.get("default_sa")
    results["up → Node Ready"] = progress.timings.get("node_ready")
    results["up → Service network ready"] = progress.timings.get("service_network")
    pod, call = first_pod_seconds(cluster.kubeconfig)
    ready = results["up → Service network ready"] or results["up → Node Ready"] or 0
    results["up → first Pod Running"] = ready + pod
    results["Pod Running → kubernetes.default.svc:443"] = call
    results["cluster memory (MiB)"] = cluster_rss_mib(cluster)
    return results


def table(results: dict[str, dict[str, float | None]]) -> pd.DataFrame:
    """One row per measure, one column per backend, the local cluster's target beside it."""
    rows = []
    for name in dict.fromkeys(m for figures in results.values() for m in figures):
        row: dict[str, str] = {"measure": name}
        for backend, figures in results.items():
            row[backend] = _fmt(name, figures.get(name))
        target = TARGETS.get(name)
        newest = next((k for k in results if k.startswith("local") and _newest(k)), "")
        local = results.get(newest, {}).get(name)
        row["target (local)"] = _fmt(name, target)
        row["met"] = (
            "—" if local is None or target is None else ("yes" if local <= target else "NO")
        )
        rows.append(row)
    return pd.DataFrame(rows)


def run(cold: bool = False, backends: tuple[str, ...] = ("local", "kind")) -> pd.DataFrame:
    """Measure every backend asked for (kind only where Docker answers); the table."""
    from helpers.cluster.kind import docker_available

    results: dict[str, dict[str, float | None]] = {}
    if "local" in backends:
        floor = ".".join(map(str, versions.FLOOR))
        results[f"local {versions.resolve(floor).kubernetes}"] = run_local(version=floor)
        results[f"local {versions.resolve('').kubernetes}"] = run_local(cold)
    if "kind" in backends:
        if docker_available():
            from .bench_kind import run_kind

            results["kind"] = run_kind()
        else:
            print("bench: no Docker engine answers: the kind column is left out", flush=True)
    (config.Layout().cache / "bench.json").write_text(json.dumps(results, indent=2))
    return table(results)


def _newest(column: str) -> bool:
    return column.endswith(versions.resolve("").kubernetes)


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if "MiB" in name:
        return f"{value:.0f}"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_clusters", description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also wipe and time the build")
    parser.add_argument("--backends", default="local,kind", help="comma-separated")
    args = parser.parse_args(argv)
    try:
        table = run(cold=args.cold, backends=tuple(args.backends.split(",")))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
