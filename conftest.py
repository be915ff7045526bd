"""How pytest-xdist shares the course's tests between workers (``tests/run.py`` runs them).

Every notebook, lab and cluster-test module makes its own namespaces, so they run side by
side — except the ones that share a course namespace: notebooks 01 and 04-07 all work in
the article's ``controller-ns``, and each lab runs in the same namespace in ``labs/`` and in
``tests/labs/test_labs_solved.py``. With ``--dist loadgroup`` each such family goes to one
worker, one after another (:func:`group`); the checker tests, each in a namespace of its
own, spread one by one; everything else is kept together by its file, so a notebook's cells
share one kernel and a module's fixtures one process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: Files that change, or assert, whether the course cluster's issuer keys are readable
#: without credentials: notebook 17 makes them public for a while (on the local cluster);
#: notebook 08 and the workshop attacks assert that they are not. One work unit: never
#: side by side.
ISSUER_KEYS = "issuer-keys"
SHARED_STATE = {
    "08_trust_from_outside.ipynb": ISSUER_KEYS,
    "17_trust_between_clusters.ipynb": ISSUER_KEYS,
    "17_trust_one_account_lab.ipynb": ISSUER_KEYS,
    "test_workshop_attacks.py": ISSUER_KEYS,
}
#: Tests of lab 17 in other files (its checkers, its solved run): with the notebooks above,
#: and one at a time, since they share the one partner API server this machine can run.
SHARED_STATE_IDS = {re.compile(r"\[(lab)?17[-_]"): ISSUER_KEYS}
#: Test modules whose every test makes a namespace of its own and no fixture wider than the
#: test: the checker tests (194, a lab scenario each — half the suite's time on one worker).
OWN_NAMESPACE_EACH = {"test_checkers.py"}


def _course_namespaces(kind: str, number: str) -> set[str]:
    """The course namespaces notebook (or lab) ``number`` uses, from helpers.names."""
    from helpers.names import NAMESPACES

    found = set()
    for namespace, owners in NAMESPACES.items():
        words = owners.replace(",", " ").split()
        if words and words[0].rstrip("s") == kind and number in words[1:]:
            found.add(namespace)
    return found


def group(nodeid: str) -> str:
    """The work unit of a test: the state it shares (:data:`SHARED_STATE`), else the (first)
    course namespace it works in, else its file.

    Notebook 05's cells are in ``ns-controller-ns``, notebook 12's in its own file's unit;
    ``test_labs_solved.py::test_lab_solved[04_…]`` joins lab 04 in ``ns-lab-04-rbac``
    (tests/unit/test_xdist_groups.py).
    """
    path = nodeid.split("::")[0]
    name = Path(path).name
    if name in SHARED_STATE:
        return SHARED_STATE[name]
    for pattern, unit in SHARED_STATE_IDS.items():
        if pattern.search(nodeid):
            return unit
    if name in OWN_NAMESPACE_EACH:
        return nodeid  # every test seeds its own namespace: each a unit of its own
    number, kind = "", ""
    if match := re.match(r"(\d\d)_.*?(_lab)?\.ipynb$", name):
        number, kind = match.group(1), "lab" if match.group(2) else "notebook"
    elif name == "test_labs_solved.py" and (found := re.search(r"\[(\d\d)_", nodeid)):
        number, kind = found.group(1), "lab"
    shared = sorted(_course_namespaces(kind, number)) if number else []
    return f"ns-{shared[0]}" if shared else path


def pytest_configure(config: Any) -> None:
    """The accommodations of busy test machines (tests/accommodations.py); the executed
    notebooks kept for the rendered edition (tests/executed.py)."""
    import sys

    here = str(Path(__file__).parent / "tests")
    if here not in sys.path:
        sys.path.insert(0, here)
    import accommodations
    import executed

    accommodations.kernels_over_unix_sockets()
    executed.register(config)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Every notebook and lab cell is what a learner runs: marker ``as_learner``."""
    import pytest

    for item in items:
        if str(item.path).endswith(".ipynb"):
            item.add_marker(pytest.mark.as_learner)


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """``--dist loadgroup``: one work unit per :func:`group`, in collection order."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group(nodeid)

    return CourseGroups(config, log)
