"""The lab notebooks keep the lab anatomy, and every question is wired to its checker.

No cluster needed: this reads the notebooks and the checker modules only.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

from helpers.labs import LABS as LAB_MODULES
from helpers.labs.checks import Lab

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*_lab.ipynb"))


def test_labs_found() -> None:
    assert len(LABS) >= 5, f"expected at least five labs, found {[p.name for p in LABS]}"


def _lab_class(module_name: str) -> type[Lab]:
    module = importlib.import_module(module_name)
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Lab) and v is not Lab and v.question_types
    )


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_anatomy(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    number = path.name[:2]
    module = nb.metadata["lab"]["module"]
    assert LAB_MODULES[number] == module, "the lab's checker module is listed in helpers.labs"
    first = nb.cells[0].source
    assert first.startswith(f"# {number} "), "opens with an H1 title: # NN …"
    for part in ("In this lab you will", "Prerequisites", "How the lab works"):
        assert part in first, f"the first cell lacks {part!r}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0].source
    assert "course = connect()" in setup and ".start(course, NS)" in setup
    namespace = re.search(r'^NS = ns\("([^"]+)"\)', setup, re.M)
    assert namespace and namespace.group(1) == nb.metadata["lab"]["namespace"]
    assert namespace.group(1).startswith(f"lab-{number}-"), "lab namespaces are lab-NN-…"
    assert code[-1].source.strip() == "lab.clean_up()", "the last code cell cleans up"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Recap" in text and "## Further reading" in text


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_every_question_is_wired(path: Path) -> None:
    """A starter with ____, then qN.check(), then the commented hint and solution."""
    nb = nbformat.read(path, as_version=4)
    questions = _lab_class(nb.metadata["lab"]["module"]).question_types
    sources = [c.source.strip() for c in nb.cells]
    for i, _ in enumerate(questions, start=1):
        name = f"q{i}"
        starters = [
            k for k, c in enumerate(nb.cells) if c.metadata.get("lab", {}).get("starter") == name
        ]
        assert len(starters) == 1, f"{name}: one starter cell"
        k = starters[0]
        assert "____" in sources[k], f"{name}: the starter shows the placeholder"
        assert sources[k + 1] == f"{name}.check()", f"{name}: the check follows the starter"
        assert sources[k + 2] == f"# {name}.hint()\n# {name}.solution()"
        assert nb.cells[k - 1].cell_type == "markdown" and nb.cells[k - 1].source.startswith(
            f"## {i}. "
        ), f"{name}: a '## {i}. …' prompt precedes the starter"


@pytest.mark.parametrize("module", sorted(LAB_MODULES.values()))
def test_questions_have_hints_and_runnable_solutions(module: str) -> None:
    for i, cls in enumerate(_lab_class(module).question_types, start=1):
        assert cls.title and cls.hints, f"{module} q{i}: a title and at least one hint"
        code = textwrap.dedent(cls.solution_code).strip()
        assert code and "____" not in code, f"{module} q{i}: a complete solution"
        if code.startswith("%%bash"):
            body = code.split("\n", 1)[1]
            proc = subprocess.run(["bash", "-n"], input=body, text=True, capture_output=True)
            assert proc.returncode == 0, f"{module} q{i}: {proc.stderr}"
        else:
            tree = ast.parse(code)
            assigned = {
                n.id
                for n in ast.walk(tree)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            } | {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            missing = set(cls.variables) - assigned
            assert not missing, f"{module} q{i}: the solution never sets {missing}"
