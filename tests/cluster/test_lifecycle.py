"""The local cluster's life cycle: reuse, recovery from a crash, and a teardown that leaves nothing.

These tests stop and restart the cluster, so they run last (marker ``teardown``) and
leave a healthy cluster behind for whoever runs next.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from helpers.cluster import config, host
from helpers.cluster.local import COMPONENTS, SHIM_SOCKET_DIRS, LocalCluster
from helpers.course import Course, connect
from helpers.pods import busybox_pod, run_pod

pytestmark = [pytest.mark.cluster, pytest.mark.teardown]


@pytest.fixture
def local(course: Course) -> LocalCluster:
    if course.backend != "local":
        pytest.skip("only the local backend is started and stopped by the course")
    return LocalCluster()


def _kube_iptables_chains() -> list[str]:
    """KUBE-* chains in the host firewall (the kubelet is told not to create any)."""
    if not shutil.which("iptables-save"):
        return []
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if line.startswith(":KUBE-")]


def _leftovers(cluster: LocalCluster) -> dict[str, object]:
    state = cluster.layout.state
    return {
        "iptables chains": _kube_iptables_chains(),
        "dead shim sockets": host.dead_sockets(SHIM_SOCKET_DIRS[0]),
        "processes": host.pids_mentioning(state),
        "container processes": sorted(host.cgroup_pids()),
        "mounts": host.mounts_under(state),
        "bridge": host.link_exists(config.BRIDGE_NAME),
        "cgroups": [p for p in host.cgroup_roots() if p.exists()],
        "state dir": state.exists(),
    }


def test_up_twice_reuses_the_running_cluster(local: LocalCluster) -> None:
    before = {c.name: c.pid for c in local.status().components}
    started = time.monotonic()
    local.up()
    assert time.monotonic() - started < 5
    assert {c.name: c.pid for c in local.status().components} == before


def test_a_crashed_cluster_is_detected_and_replaced(local: LocalCluster) -> None:
    for name in COMPONENTS:  # what a power cut or `kill -9` leaves: state, mounts, no processes
        pid = local.sup.pid(name)
        if pid:
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert local.status().stale
    local.up()
    assert local.status().healthy
    course = connect(start=False)
    ns = course.fresh_namespace("t-after-crash")
    pod = run_pod(course.core, ns, busybox_pod("alive"))
    assert pod.status.phase == "Running"
    course.delete_namespace(ns)


def test_down_leaves_nothing_behind(local: LocalCluster) -> None:
    course = connect(start=False)
    ns = course.fresh_namespace("t-teardown")
    run_pod(course.core, ns, busybox_pod("running-at-teardown"))
    local.down()
    assert _leftovers(local) == {
        "iptables chains": [],
        "dead shim sockets": [],
        "processes": [],
        "container processes": [],
        "mounts": [],
        "bridge": False,
        "cgroups": [],
        "state dir": False,
    }
    # ... and the next session finds a working cluster again.
    local.up()
    assert local.status().healthy
