"""tests/executed.py keeps each notebook as nbval ran it (the rendered edition's source)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TESTS = Path(__file__).resolve().parents[1]


def test_a_run_keeps_each_cells_outputs_and_its_failures(tmp_path: Path) -> None:
    source = tmp_path / "notebooks" / "00_probe.ipynb"
    source.parent.mkdir()
    nb = new_notebook(
        cells=[
            new_markdown_cell("# 00 Probe"),
            new_code_cell("print('hello')\n6 * 7"),
            new_code_cell("assert False, 'a failed check'"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, source)
    out = tmp_path / "executed"
    env = {**os.environ, "COURSE_EXECUTED_DIR": str(out), "PYTHONPATH": str(TESTS)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "executed", "-p", "no:cacheprovider", "-q",
         "--nbval-lax", "--nbval-current-env", "--rootdir", str(tmp_path), str(source)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    kept = nbformat.read(out / "notebooks" / "00_probe.ipynb", as_version=4)
    nbformat.validate(kept)
    first, failed = kept.cells[1], kept.cells[2]
    assert first.execution_count == 1 and [o.output_type for o in first.outputs] == [
        "stream",
        "execute_result",
    ]
    assert first.outputs[0].text == "hello\n" and first.outputs[1].data["text/plain"] == "42"
    assert failed.outputs[0].ename == "AssertionError"
    assert kept.metadata["sa_course_executed"] == {"failed_cells": [2]}
    assert nbformat.read(source, as_version=4).cells[1].outputs == [], "the source is untouched"
