"""The helpers package has no import circles: every module can be read bottom-up.

Imports inside functions count too (a lazy import hides a circle, it does not remove it);
imports only for type checkers (``if TYPE_CHECKING:``) do not run, and do not count.
``from . import name`` counts as an import of the submodule ``name`` when there is one,
else of the package itself.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[2] / "helpers"


def module_name(path: Path) -> str:
    parts = path.relative_to(HELPERS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in HELPERS.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
            found.add(node.module if node.module in known else node.module.rpartition(".")[0])
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a list of module names, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_detector_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_helpers_have_no_import_circle() -> None:
    mods = modules()
    assert "helpers.labs.checks" in mods and "helpers.cluster.local" in mods
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    cycle = find_cycle(graph)
    assert not cycle, "import circle: " + " -> ".join(cycle)


#: The rooms of the house, from the ground up, and the rooms each may import from.
#: ``helpers`` alone (top-level modules) is the course API a notebook imports.
ROOMS = {
    "helpers.cluster": {"helpers.cluster"},
    "helpers": {"helpers", "helpers.cluster"},
    "helpers.labs": {"helpers.labs", "helpers", "helpers.cluster"},
    "helpers.workshop": {"helpers.workshop", "helpers.labs", "helpers", "helpers.cluster"},
    # the JupyterLab server's contents manager (make lab): none of the course
    "helpers.jupyterlab": {"helpers.jupyterlab"},
}


def room_of(module: str) -> str:
    """``helpers.cluster.kind`` → ``helpers.cluster``; ``helpers.tokens`` → ``helpers``."""
    parts = module.split(".")
    if len(parts) > 1 and f"helpers.{parts[1]}" in ROOMS:
        return f"helpers.{parts[1]}"
    return "helpers"


def test_every_package_of_helpers_is_a_room() -> None:
    packages = {p.parent.name for p in HELPERS.rglob("__init__.py") if p.parent != HELPERS}
    assert {f"helpers.{p}" for p in packages} == set(ROOMS) - {"helpers"}


def test_each_room_imports_only_the_rooms_below_it() -> None:
    mods = modules()
    wrong = [
        f"{name} imports {target}"
        for name, path in mods.items()
        for target in imports_of(name, path, set(mods))
        if room_of(target) not in ROOMS[room_of(name)]
    ]
    assert not wrong, "; ".join(sorted(wrong))


def test_nothing_learners_import_imports_the_repository_tools() -> None:
    offenders = [
        str(path.relative_to(HELPERS.parent))
        for path in HELPERS.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+tools\b", path.read_text(), re.MULTILINE)
    ]
    assert not offenders, offenders
