"""The root conftest.py's work units for pytest-xdist: shared namespaces run on one worker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
assert spec and spec.loader
root_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(root_conftest)
group = root_conftest.group


def test_notebooks_of_the_articles_namespace_share_one_worker() -> None:
    units = {
        group(f"notebooks/{n}::Cell 0")
        for n in (
            "01_service_accounts.ipynb",
            "04_rbac.ipynb",
            "05_inside_the_pod.ipynb",
            "06_pod_calls_the_api.ipynb",
            "07_token_review.ipynb",
        )
    }
    assert units == {"ns-controller-ns"}


def test_a_lab_and_its_solved_run_share_one_worker() -> None:
    solved = "tests/labs/test_labs_solved.py::test_lab_solved[04_least_privilege_lab.ipynb]"
    assert group(solved) == group("labs/04_least_privilege_lab.ipynb::Cell 3") == "ns-lab-04-rbac"


def test_everything_else_by_its_file() -> None:
    # a notebook of its own namespace is a unit of its own
    assert group("notebooks/12_who_can_become_a_service_account.ipynb::Cell 4") == "ns-become-ns"
    assert group("tests/cluster/test_workshop.py::test_status") == "tests/cluster/test_workshop.py"
    every = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert every, "notebooks found"


def test_checker_tests_spread_one_by_one() -> None:
    one = "tests/labs/test_checkers.py::test_wrong_answer[lab04-q1-apps-group]"
    other = "tests/labs/test_checkers.py::test_solution[lab04-q3]"
    assert group(one) == one and group(other) == other


def test_what_opens_the_issuer_keys_never_runs_beside_what_asserts_they_are_closed() -> None:
    units = {
        group("notebooks/08_trust_from_outside.ipynb::Cell 9"),
        group("notebooks/17_trust_between_clusters.ipynb::Cell 8"),
        group("tests/cluster/test_workshop_attacks.py::test_anonymous_requests_are_401"),
        group("labs/17_trust_one_account_lab.ipynb::Cell 3"),
        group("tests/labs/test_checkers.py::test_wrong_answer[lab17-q1-no-prefix]"),
        group("tests/labs/test_checkers.py::test_scenario_gone[17-clean_up]"),
        group("tests/labs/test_labs_solved.py::test_lab_solved[17_trust_one_account_lab.ipynb]"),
    }
    assert units == {"issuer-keys"}
    assert group("tests/labs/test_checkers.py::test_wrong_answer[lab12-q1-x]").endswith("x]")
