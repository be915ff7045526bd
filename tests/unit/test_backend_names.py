"""Only the cluster layer tells the backends apart by name; everything else asks it.

The teaching modules, the classroom, the labs and the notebooks ask ``course.node`` (files
and processes of the node, ``None`` out of reach), ``course.control_plane`` and
``course.own_cluster`` — never ``course.backend == "kind"``. A new backend then changes
``helpers/cluster`` alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from helpers.cluster import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
#: Where backends are known by name: the cluster layer, and the tests that drive it.
ALLOWED = (ROOT / "helpers" / "cluster",)


def _names(node: ast.AST) -> set[str]:
    """The backend names a comparison's operand spells out ("kind", ("local", "kind"))."""
    if isinstance(node, ast.Constant) and node.value in BACKENDS:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names(e) for e in node.elts)) if node.elts else set()
    return set()


def backend_comparisons(source: str) -> list[str]:
    """Each comparison in ``source`` of something called ``…backend`` with a backend's name.

    >>> backend_comparisons('if course.backend in ("local", "kind"): pass')
    ['course.backend in (...)']
    >>> backend_comparisons('own = course.own_cluster; x = mode == "kind"')
    []
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        named = any(_names(o) for o in operands)
        about_backend = any("backend" in ast.unparse(o).lower() for o in operands if not _names(o))
        if named and about_backend:
            found.append(ast.unparse(node).split(" ")[0] + " " + _op(node) + " (...)")
    return found


def _op(node: ast.Compare) -> str:
    return {ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in"}.get(
        type(node.ops[0]), "?"
    )


def _python_files() -> list[Path]:
    files = sorted((ROOT / "helpers").rglob("*.py"))
    return [f for f in files if not any(f.is_relative_to(a) for a in ALLOWED)]


def _code_of(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    # shell and magic lines are not Python
    return "\n".join(
        "\n".join(line for line in c.splitlines() if not line.lstrip().startswith(("!", "%")))
        for c in cells
        if not c.lstrip().startswith("%%")
    )


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_helper_outside_the_cluster_layer_compares_backend_names(path: Path) -> None:
    assert not backend_comparisons(path.read_text()), (
        f"{path.relative_to(ROOT)} compares a backend's name: ask course.node, "
        "course.control_plane or course.own_cluster instead"
    )


@pytest.mark.parametrize(
    "path",
    sorted([*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "labs").glob("*.ipynb")]),
    ids=lambda p: p.name,
)
def test_no_notebook_compares_backend_names(path: Path) -> None:
    assert not backend_comparisons(_code_of(path)), path.name
