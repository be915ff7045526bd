"""Shared fixtures: one course cluster per session, one fresh namespace per test.

A missing cluster is a red test with one sentence on what to do, never a skip.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.cluster.errors import ClusterError
from helpers.course import Course, connect


def pytest_configure(config: pytest.Config) -> None:
    """In tests/run.py's workshop run each pytest-xdist worker is one learner.

    ``WORKSHOP_KUBECONFIGS`` names the directory of the learners' kubeconfigs; worker
    ``gwN`` takes the N-th, and its notebooks' kernels inherit ``COURSE_KUBECONFIG``.
    """
    directory = os.environ.get("WORKSHOP_KUBECONFIGS")
    worker = getattr(config, "workerinput", {}).get("workerid", "")
    if directory and worker:
        files = sorted(Path(directory).glob("*.kubeconfig"))
        if not files:
            raise pytest.UsageError(f"no learner kubeconfigs in {directory}")
        os.environ["COURSE_KUBECONFIG"] = str(files[int(worker.removeprefix("gw")) % len(files)])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run ``teardown`` tests last (the work units are the root conftest's ``group``)."""
    _teardown_last(items)


def _teardown_last(items: list[pytest.Item]) -> None:
    """Run tests marked ``teardown`` (they stop and restart the cluster) last."""
    items.sort(key=lambda item: item.get_closest_marker("teardown") is not None)


@pytest.fixture(scope="session")
def course() -> Iterator[Course]:
    """The course cluster, started (or reused) once for the whole session."""
    try:
        c = connect()
    except ClusterError as exc:
        pytest.fail(f"The course cluster is not available: {exc}", pytrace=False)
    yield c
    c.reconnect()  # the lifecycle tests restart the cluster with fresh keys
    c.cleanup()


@pytest.fixture
def namespace(course: Course, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted afterwards."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"t-{stem}-{uuid.uuid4().hex[:5]}"
    course.fresh_namespace(name)
    yield name
    course.delete_namespace(name)
