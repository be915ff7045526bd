"""tests/run.py selects each run's tests by marker (pyproject.toml), never by path lists."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import run  # noqa: E402


@pytest.mark.parametrize(
    ("backend", "kwargs", "expected"),
    [
        ("local", {}, "not teardown and not browser and not kind_only"),
        ("local", {"teardown": True}, "teardown and not browser and not kind_only"),
        (
            "local",
            {"own_machinery": False},
            "not teardown and not browser and not local_only and not kind_only",
        ),
        ("kind", {}, "not teardown and not browser and not local_only and not api_only"),
        (
            "kind",
            {"teardown": True},
            "teardown and not browser and not local_only and not api_only",
        ),
        ("kubeconfig", {}, "as_learner and not teardown"),
    ],
)
def test_each_run_is_a_marker_expression(backend: str, kwargs: dict, expected: str) -> None:
    assert run.selection(backend, **kwargs) == expected


def test_a_callers_marker_narrows_the_runs_own() -> None:
    assert run.with_marker("as_learner", ["-x", "-m", "slow"]) == [
        "-m",
        "(as_learner) and (slow)",
        "-x",
    ]
    assert run.with_marker("as_learner", []) == ["-m", "as_learner"]


def _markers(path: Path) -> set[str]:
    """The marker names of a test module's ``pytestmark``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute)} - {"mark"}
    return set()


def test_every_teardown_module_belongs_to_one_backend() -> None:
    """A module that stops and restarts a cluster must say whose (else two runs would)."""
    for path in sorted((ROOT / "tests" / "cluster").glob("test_*.py")):
        marks = _markers(path)
        if "teardown" in marks:
            assert len(marks & {"local_only", "kind_only"}) == 1, (path.name, marks)


def test_the_markers_the_runs_use_are_declared() -> None:
    declared = (ROOT / "pyproject.toml").read_text()
    for name in ("teardown", "local_only", "kind_only", "api_only", "as_learner", "cluster"):
        assert f'"{name}:' in declared, name


def test_each_lab_runs_unattempted_before_it_runs_solved() -> None:
    """The workshop board keeps a question's last outcome: the solved run must come last."""
    order = run.ON_A_CLUSTER
    assert order.index("labs") < order.index("tests/labs")
