"""The rendered edition's pieces that need no cluster (tools/edition.py; the site itself is
built in `make test` from the local run's executed notebooks)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tools import edition
from tools.edition_conf.reader import read


def test_cells_jupyterlab_folds_are_folded_on_the_site() -> None:
    nb = new_notebook(
        cells=[
            new_code_cell("x = 1"),
            new_code_cell("assert x", metadata={"jupyter": {"source_hidden": True}}),
            new_code_cell("x", metadata={"jupyter": {"outputs_hidden": True}, "tags": ["t"]}),
        ]
    )
    cells = read(nbformat.writes(nb)).cells
    assert [c.metadata.get("tags", []) for c in cells] == [[], ["hide-input"], ["t", "hide-output"]]


def test_every_notebook_then_its_labs_in_course_order() -> None:
    order = [f"{e.path.parent.name}/{e.number}" for e in edition.course_order()]
    assert order[0] == "notebooks/00" and order.index("labs/17") == order.index("notebooks/17") + 1
    assert (
        len(order)
        == len(set(order))
        == len(list(Path("notebooks").glob("[0-9]*.ipynb")))
        + len(list(Path("labs").glob("[0-9]*.ipynb")))
    )


def test_the_front_page_names_the_run_and_links_every_page() -> None:
    order = edition.course_order()
    run = {"backend": "local", "kubernetes": "v1.37.2", "commit": "abc", "finished": "then"}
    page = edition.front_page(order, run)
    assert "**local**" in page and "**v1.37.2**" in page and "**abc**" in page
    for entry in order:
        assert f"({entry.path.parent.name}/{entry.path.stem}.ipynb)" in page


@pytest.fixture
def executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(edition, "EXECUTED", tmp_path)
    return tmp_path


def test_an_executed_copy_is_used_only_if_whole_and_newer(executed: Path) -> None:
    entry = edition.course_order()[0]
    assert edition.why_stale(entry) == "not executed"
    copy = executed / "notebooks" / entry.path.name
    copy.parent.mkdir()
    nb = nbformat.read(entry.path, as_version=4)
    nbformat.write(nb, copy)
    assert edition.why_stale(entry) == "not written by the course's test run"
    nb.metadata[edition.EXECUTED_KEY] = {"failed_cells": [3]}
    nbformat.write(nb, copy)
    assert edition.why_stale(entry) == "cell(s) [3] failed"
    nb.metadata[edition.EXECUTED_KEY] = {"failed_cells": []}
    nbformat.write(nb, copy)
    assert edition.why_stale(entry) == ""
    old = entry.path.stat().st_mtime - 60
    os.utime(copy, (old, old))
    assert edition.why_stale(entry) == "older than its source"
