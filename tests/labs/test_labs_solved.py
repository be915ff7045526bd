"""Each lab, solved: every starter cell replaced by its solution, run in a real kernel.

nbval runs the labs as a learner first sees them (every check *Not attempted*, no error).
Here each lab runs as if a learner had answered everything with the stored solutions
(``qN.solution()``), top to bottom, in a kernel of this environment; every check must say
*Correct*, and the lab must finish within a time limit.

The learner's budget is a minute a lab on a quiet machine; ``make bench`` runs the labs one
at a time with ``COURSE_LAB_BUDGET=60`` to hold them to it. ``make test`` runs them while
every other test and a second cluster share two cores (a lab that takes 5 s alone took
70 s there), so its limit is a guard against a lab that hangs or has grown, not the budget.
"""

from __future__ import annotations

import importlib
import json
import os
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from helpers.course import Course
from helpers.labs.checks import CORRECT, NOT_ATTEMPTED, Lab

pytestmark = [pytest.mark.cluster, pytest.mark.as_learner]

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*_lab.ipynb"))
MARK = "LAB-RESULTS:"
BUDGET_SECONDS = float(os.environ.get("COURSE_LAB_BUDGET", "150"))


def test_labs_found() -> None:
    assert LABS, "no labs found in labs/"


def lab_class(module_name: str) -> type[Lab]:
    module = importlib.import_module(module_name)
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Lab) and v is not Lab and v.question_types
    )


def solved(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The lab with each starter cell replaced by its solution, plus a cell reporting results."""
    nb = nbformat.read(path, as_version=4)
    questions = lab_class(nb.metadata["lab"]["module"]).question_types
    names = [f"q{i}" for i in range(1, len(questions) + 1)]
    replaced = []
    for cell in nb.cells:
        starter = cell.metadata.get("lab", {}).get("starter")
        if starter:
            cls = questions[names.index(starter)]
            cell.source = textwrap.dedent(cls.solution_code).strip()
            replaced.append(starter)
    assert replaced == names, f"{path.name}: starter cells {replaced}, questions {names}"
    report = (
        "import json as _json\nfrom helpers.labs.checks import RESULTS as _RESULTS\n"
        f"print({MARK!r} + _json.dumps([r.as_dict() for r in _RESULTS]))"
    )
    nb.cells.append(nbformat.v4.new_code_cell(report))
    return nb, names


def results_of(nb: nbformat.NotebookNode) -> list[dict[str, str]]:
    for output in nb.cells[-1].outputs:
        text = output.get("text", "")
        if output.get("name") == "stdout" and MARK in text:
            return json.loads(text.split(MARK, 1)[1])
    raise AssertionError("the solved lab printed no results")


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_solved(path: Path, course: Course, tmp_path: Path) -> None:
    nb, names = solved(path)
    # the kernel talks over Unix sockets, not TCP ports: a port picked for it could be taken
    # before it binds, and it dies ("Address already in use"; a kind run lost lab 17 so)
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = NotebookClient(
        nb,
        km=kernel,
        kernel_name="python3",  # this environment's ipykernel (argv "python" = this python)
        timeout=180,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    client.execute()
    seconds = time.monotonic() - start
    results = results_of(nb)
    namespace = nb.metadata["lab"]["namespace"]
    # a lab this cluster cannot judge (lab 17 off the local backend) must say so, each check
    # (read from the cluster: lab 16 needs Pod certificates, 1.37, and a signer's rights)
    why = lab_class(nb.metadata["lab"]["module"])(course, namespace).unavailable()
    expected = NOT_ATTEMPTED if why else CORRECT
    wrong = [
        r for r in results if r["status"] != expected or (why and why[:40] not in r["message"])
    ]
    assert not wrong, f"{path.name}: {wrong}"
    assert {r["question"] for r in results} == set(names), results
    limit = f"limit {BUDGET_SECONDS:.0f} s"
    assert seconds <= BUDGET_SECONDS, f"{path.name} took {seconds:.0f} s ({limit})"
    print(f"{path.name}: {len(results)} checks {expected} in {seconds:.1f} s ({namespace})")
