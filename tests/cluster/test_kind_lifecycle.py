"""The kind cluster's life cycle: reuse, and a teardown that removes the node container.

These tests stop and restart the kind cluster, so they run last (marker ``teardown``) and
leave a healthy cluster behind for whoever runs next. tests/run.py runs them only on kind.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from helpers.cluster import kind
from helpers.cluster.kind import KindBackend
from helpers.course import Course, connect
from helpers.pods import busybox_pod, exec_in_pod, run_pod

pytestmark = [pytest.mark.cluster, pytest.mark.teardown, pytest.mark.kind_only]


@pytest.fixture
def backend(course: Course) -> KindBackend:
    if course.backend != "kind":
        pytest.skip("only the kind backend's cluster is deleted and re-created here")
    return KindBackend()


def _node_containers() -> list[str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=io.x-k8s.kind.cluster={kind.CLUSTER_NAME}",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_up_twice_reuses_the_running_cluster(backend: KindBackend) -> None:
    before = _node_containers()
    started = time.monotonic()
    assert backend.up() == backend.kubeconfig
    assert time.monotonic() - started < 15, "reusing is quick: no new node container"
    assert _node_containers() == before == [kind.NODE]


def test_the_course_images_are_in_the_node(backend: KindBackend) -> None:
    """No Pod of the course ever pulls: its images were loaded with `kind load`."""
    from helpers.cluster import config

    assert config.BUSYBOX_IMAGE in kind.node_images()


def test_down_removes_the_node_and_up_makes_a_working_one(backend: KindBackend) -> None:
    from helpers.cluster import podnetwork

    routes = podnetwork.recorded_routes()  # the browser classroom's, if its run came first
    backend.down()
    assert _node_containers() == []
    assert podnetwork.recorded_routes() == []
    table = subprocess.run(["ip", "route"], capture_output=True, text=True, timeout=10).stdout
    assert not [r for r in routes if f"{r[0]} via {r[1]}" in table], table
    assert backend.status()["exists"] is False
    backend.up()  # the next session finds a working cluster again
    course = connect(start=False)
    ns = course.fresh_namespace("t-kind-after-down")
    pod = run_pod(course.core, ns, busybox_pod("alive"))
    assert pod.status.phase == "Running"
    assert exec_in_pod(course.core, ns, "alive", ["true"]).returncode == 0
    course.delete_namespace(ns)
