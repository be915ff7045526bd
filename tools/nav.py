"""Keep the course's navigation in step with its files: ``python -m tools.nav [--check]``.

- Every notebook ends with a navigation cell (previous | contents | next), generated here.
- The README's table of contents (between ``<!-- toc -->`` markers) lists every notebook
  and lab with its title and one-line scope, taken from the notebook's first cell.
- Numbering must be consecutive from 00; a lab's number names the notebook it practises.
- Notebooks are committed without outputs; ``strip`` removes them.
- A notebook's verification cells (those that start with ``assert``) are how ``make test``
  proves the course; the learner sees them folded, under one label (``fold_checks``).
  A folded cell hands nothing on (``names_from_checks``), and a notebook shows at most
  ``VISIBLE_CELLS_AIM`` unfolded cells (``visible_cells``).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

NAV_MARK = "<!-- nav -->"
#: First line of a folded verification cell: what the learner sees if they unfold it.
CHECK_LABEL = "# ✓ checks what this step showed"
#: About 30 cells a learner sees unfolded per notebook; the tests allow a little more.
VISIBLE_CELLS_AIM = 32
TOC_START, TOC_END = "<!-- toc -->", "<!-- /toc -->"
#: The README's list of permissions, generated from helpers/preflight_needs.yaml.
NEEDS_START, NEEDS_END = "<!-- needs -->", "<!-- /needs -->"
ROOT = Path(__file__).resolve().parents[1]
_NUMBERED = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")


@dataclass(frozen=True)
class Entry:
    """One notebook or lab of the course."""

    path: Path
    number: str
    title: str
    scope: str

    @property
    def is_lab(self) -> bool:
        return self.path.parent.name == "labs"


def read_entry(path: Path) -> Entry:
    """Number, title (the first cell's H1) and scope (its next line) of a notebook."""
    match = _NUMBERED.match(path.name)
    if not match:
        raise ValueError(f"{path} is not named NN_snake_case.ipynb")
    nb = nbformat.read(path, as_version=4)
    lines = [ln.strip() for ln in nb.cells[0].source.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"{path}: the first cell must start with an H1 title ('# …')")
    scope = lines[1] if len(lines) > 1 else ""
    title = lines[0][2:].strip().removeprefix(match.group(1)).strip()
    return Entry(path, match.group(1), title, scope)


def entries(root: Path = ROOT) -> tuple[list[Entry], list[Entry]]:
    """The course notebooks and the labs, each sorted by number."""
    notebooks = [read_entry(p) for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    labs = [read_entry(p) for p in sorted((root / "labs").glob("[0-9][0-9]_*.ipynb"))]
    return notebooks, labs


def numbering_problems(notebooks: list[Entry], labs: list[Entry]) -> list[str]:
    """Gaps, duplicates and labs that point at no notebook."""
    problems = []
    numbers = [e.number for e in notebooks]
    expected = [f"{i:02d}" for i in range(len(notebooks))]
    if numbers != expected:
        problems.append(f"notebook numbers {numbers} should be exactly {expected}")
    for lab in labs:
        if lab.number not in numbers:
            problems.append(
                f"{lab.path.name} practises notebook {lab.number}, which does not exist"
            )
        if not lab.path.name.endswith("_lab.ipynb"):
            problems.append(f"{lab.path.name} should be named NN_topic_lab.ipynb")
    return problems


def _link(entry: Entry, here: Path) -> str:
    rel = Path("..", entry.path.parent.name, entry.path.name)
    if entry.path.parent == here.parent:
        rel = Path(entry.path.name)
    return f"[{entry.number} {entry.title}]({rel.as_posix()})"


def nav_text(entry: Entry, notebooks: list[Entry], labs: list[Entry]) -> str:
    """The navigation cell of ``entry``."""
    contents = "[Contents](../README.md#contents)"
    if entry.is_lab:
        practised = next((n for n in notebooks if n.number == entry.number), None)
        # a lab may be written before its notebook (numbering_problems reports that)
        parts = [f"Practises {_link(practised, entry.path)}"] if practised else []
        parts.append(contents)
    else:
        i = notebooks.index(entry)
        prev = f"◀ {_link(notebooks[i - 1], entry.path)}" if i > 0 else ""
        nxt = f"{_link(notebooks[i + 1], entry.path)} ▶" if i + 1 < len(notebooks) else ""
        parts = [p for p in (prev, contents, nxt) if p]
        own_labs = [_link(lab, entry.path) for lab in labs if lab.number == entry.number]
        if own_labs:
            parts.append("Lab: " + ", ".join(own_labs))
    return f"{NAV_MARK}\n---\n" + " | ".join(parts)


def toc_text(notebooks: list[Entry], labs: list[Entry]) -> str:
    """The README's table of contents."""
    rows = ["| # | notebook | what you learn |", "|---|---|---|"]
    rows += [
        f"| {e.number} | [{e.title}]({e.path.relative_to(ROOT).as_posix()}) | {e.scope} |"
        for e in notebooks
    ]
    if labs:
        rows += ["", "| lab | practises | the skill |", "|---|---|---|"]
        rows += [
            f"| [{e.title}]({e.path.relative_to(ROOT).as_posix()}) | {e.number} | {e.scope} |"
            for e in labs
        ]
    return f"{TOC_START}\n" + "\n".join(rows) + f"\n{TOC_END}"


def has_outputs(path: Path) -> bool:
    """True if any code cell of the notebook carries outputs or an execution count."""
    nb = nbformat.read(path, as_version=4)
    return any(
        c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"
    )


def strip(path: Path) -> bool:
    """Remove outputs and execution counts; return True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(nb, path)
    return changed


def _stored_names(tree: ast.Module) -> set[str]:
    """Names a cell binds for later cells (not loop or comprehension variables)."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            stmt = ast.Module(body=[*stmt.body, *stmt.orelse], type_ignores=[])
        for node in ast.walk(stmt):
            if isinstance(node, ast.comprehension):
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.withitem)):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.optional_vars if isinstance(node, ast.withitem) else node.target]
                )
                for target in targets:
                    if target is not None:
                        names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.FunctionDef):
                    names.add(node.name)
                else:
                    names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _parse(cell: nbformat.NotebookNode) -> ast.Module | None:
    if cell.cell_type != "code" or cell.source.lstrip().startswith("%"):
        return None
    try:
        return ast.parse(cell.source)
    except SyntaxError:
        return None


def is_check_cell(nb: nbformat.NotebookNode, index: int) -> bool:
    """True for a cell that only verifies: it asserts, shows nothing, and hands nothing on.

    It has an ``assert``, no expression whose value the learner would see, changes no
    environment variable (reading one is checking), and binds no name that a later cell uses.
    """
    tree = _parse(nb.cells[index])
    if tree is None or not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
        return False
    if any(isinstance(stmt, ast.Expr) for stmt in tree.body) or _changes_environment(tree):
        return False
    later: set[str] = set()
    for cell in nb.cells[index + 1 :]:
        parsed = _parse(cell)
        if parsed is not None:
            later |= {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}
        elif cell.cell_type == "code":  # a %%bash cell: Python names may appear as words
            later |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", cell.source))
    return not (_stored_names(tree) - {"_"}) & later


def _changes_environment(tree: ast.Module) -> bool:
    """True if the code sets or removes an environment variable.

    >>> _changes_environment(ast.parse('assert os.environ["A"] == "1"'))
    False
    >>> _changes_environment(ast.parse('os.environ["A"] = "1"'))
    True
    >>> _changes_environment(ast.parse('os.environ.update(A="1")'))
    True
    """
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        if any("environ" in ast.unparse(t) for t in targets):
            return True
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if (
                "putenv" in called
                or "unsetenv" in called
                or ("environ." in called and not called.endswith((".get", ".items", ".keys")))
            ):
                return True
    return False


def fold_checks(nb: nbformat.NotebookNode) -> int:
    """Label and fold every verification cell of ``nb``; return how many changed.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert 1 + 1 == 2")])
    >>> fold_checks(nb), nb.cells[0].source.splitlines()[0], nb.cells[0].metadata
    (1, '# ✓ checks what this step showed', {'jupyter': {'source_hidden': True}, 'tags': ['check']})
    >>> fold_checks(nb)
    0
    """
    changed = 0
    for index, cell in enumerate(nb.cells):
        if not is_check_cell(nb, index):
            continue
        before = (cell.source, json.dumps(cell.metadata, sort_keys=True))
        if not cell.source.startswith(CHECK_LABEL + "\n"):
            cell.source = f"{CHECK_LABEL}\n{cell.source}"
        cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        tags = cell.metadata.setdefault("tags", [])
        if "check" not in tags:
            tags.append("check")
        changed += before != (cell.source, json.dumps(cell.metadata, sort_keys=True))
    return changed


def is_folded(cell: nbformat.NotebookNode) -> bool:
    """True for a cell whose source the learner sees folded (a verification cell)."""
    return bool(cell.metadata.get("jupyter", {}).get("source_hidden"))


def visible_cells(nb: nbformat.NotebookNode) -> int:
    """How many cells of ``nb`` the learner sees unfolded.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
    ...                                      nbformat.v4.new_code_cell("assert x == 1")])
    >>> visible_cells(nb), fold_checks(nb), visible_cells(nb)
    (2, 1, 1)
    """
    return sum(not is_folded(cell) for cell in nb.cells)


#: Calls that change the cluster: a folded cell ("only checks") must make none of them.
#: Reviews and token requests create nothing that lasts, so they may check.
_CHANGES = re.compile(
    r"^(delete_|patch_|replace_|create_(?!namespaced_service_account_token$|token$"
    r"|token_review$|subject_access_review$|self_subject|local_subject_access_review$))"
    r"|^(fresh_namespace|delete_namespace|exec_in_pod|run_pod|empty|clean_up|cleanup)$"
)
_KUBECTL_CHANGES = re.compile(r"\b(apply|delete|create|patch|label|annotate|exec|replace|edit)\b")


def folded_changes(nb: nbformat.NotebookNode) -> list[str]:
    """Folded cells that change the cluster: ``"cell N: call"`` each (folded means *only checks*).

    >>> cells = [nbformat.v4.new_code_cell(s) for s in ("assert api.read_x()",
    ...          "assert 1\\ncourse.delete_namespace(NS)", "%%bash\\nkubectl apply -f x")]
    >>> for c in cells:
    ...     c.metadata = {"jupyter": {"source_hidden": True}, "tags": ["check"]}
    >>> folded_changes(nbformat.v4.new_notebook(cells=cells))
    ['cell 1: delete_namespace', 'cell 2: kubectl apply']
    """
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not is_folded(cell):
            continue
        if cell.source.lstrip().startswith("%%bash"):
            for line in cell.source.splitlines():
                if "kubectl" in line and (
                    m := _KUBECTL_CHANGES.search(line.split("kubectl", 1)[1])
                ):
                    problems.append(f"cell {index}: kubectl {m.group(1)}")
            continue
        tree = _parse(cell)
        for node in ast.walk(tree) if tree else ():
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if _CHANGES.search(name) or (
                name == "kubectl"
                and any(
                    isinstance(a, ast.Constant)
                    and isinstance(a.value, str)
                    and _KUBECTL_CHANGES.fullmatch(a.value)
                    for a in node.args
                )
            ):
                problems.append(f"cell {index}: {name}")
    return problems


def names_from_checks(nb: nbformat.NotebookNode) -> list[str]:
    """Unfolded cells that use a name only a folded cell binds: ``"cell N: name"`` each.

    A learner reads the unfolded cells; what they use must be defined where they can see it.

    >>> cells = [nbformat.v4.new_code_cell(s) for s in ("x = 1", "y = 2; assert y", "x + y")]
    >>> cells[1].metadata = {"jupyter": {"source_hidden": True}, "tags": ["check"]}
    >>> names_from_checks(nbformat.v4.new_notebook(cells=cells))
    ['cell 2: y']
    """
    shown: set[str] = set()
    folded: set[str] = set()
    problems = []
    for index, cell in enumerate(nb.cells):
        tree = _parse(cell)
        if tree is None:
            continue
        stored = _stored_names(tree)
        if is_folded(cell):
            folded |= stored - shown
            continue
        local = stored | {
            n.id
            for comp in ast.walk(tree)
            if isinstance(comp, ast.comprehension)
            for n in ast.walk(comp.target)
            if isinstance(n, ast.Name)
        }
        used = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        problems += [f"cell {index}: {name}" for name in sorted((used & folded) - shown - local)]
        shown |= stored
    return problems


def sync(root: Path = ROOT, check: bool = False) -> list[str]:
    """Bring navigation cells and the README's contents in step; report what differs."""
    notebooks, labs = entries(root)
    problems = numbering_problems(notebooks, labs)
    for entry in [*notebooks, *labs]:
        nb = nbformat.read(entry.path, as_version=4)
        changed = False
        if not entry.is_lab and fold_checks(nb):
            problems.append(f"{entry.path.name}: verification cells not folded and labelled")
            changed = True
        text = nav_text(entry, notebooks, labs)
        last = nb.cells[-1]
        if last.cell_type == "markdown" and last.source.startswith(NAV_MARK):
            if last.source != text:
                last.source = text
                changed = True
                problems.append(f"{entry.path.name}: navigation cell out of date")
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
            changed = True
            problems.append(f"{entry.path.name}: navigation cell out of date")
        if changed and not check:
            nbformat.write(nb, entry.path)
    readme = root / "README.md"
    from helpers.preflight import readme_needs

    for (start, end), text, what in (
        ((TOC_START, TOC_END), toc_text(notebooks, labs), "table of contents"),
        ((NEEDS_START, NEEDS_END), f"{NEEDS_START}\n{readme_needs()}{NEEDS_END}", "permissions"),
    ):
        current = readme.read_text()
        if start in current and end in current:
            head, rest = current.split(start, 1)
            tail = rest.split(end, 1)[1]
            updated = head + text + tail
            if updated != current:
                problems.append(f"README.md: {what} out of date")
                if not check:
                    readme.write_text(updated)
        else:
            problems.append(f"README.md has no {start} … {end} block")
    if not check:
        for entry in [*notebooks, *labs]:
            strip(entry.path)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.nav", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report; change nothing")
    args = parser.parse_args(argv)
    problems = sync(check=args.check)
    for p in problems:
        print(p)
    if args.check:
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
