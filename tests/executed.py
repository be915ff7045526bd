"""Keep every notebook and lab as the test run executed it: the rendered edition's source.

nbval runs each code cell in a kernel against the cluster and keeps what the cell printed
(``IPyNbCell.test_outputs``). With ``COURSE_EXECUTED_DIR`` set (tests/run.py sets it for
the local run), this plugin writes each notebook, with those outputs, to
``<dir>/notebooks/`` or ``<dir>/labs/`` when the session ends; ``make book`` renders them
(tools/book.py). A notebook with a failed cell is written too, with the failure in its
metadata, and the book refuses it. The committed notebooks are never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest

#: The environment variable that names the directory to write to.
ENV = "COURSE_EXECUTED_DIR"
#: The metadata key each written notebook carries.
KEY = "sa_course_executed"


class Keeper:
    """Collects each cell's outputs as it runs; writes the notebooks at the end."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[Path, Any] = {}
        self.failed: dict[Path, list[int]] = {}
        self.counts: dict[Path, int] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        if call.when != "call" or not hasattr(item, "test_outputs"):
            return
        notebook = item.parent
        path = Path(str(notebook.path))
        self.files[path] = notebook
        count = self.counts.get(path, 0) + 1
        self.counts[path] = count
        cell = item.cell  # the cell object of notebook.nb itself
        outputs = []
        for out in item.test_outputs or []:
            out = nbformat.from_dict(dict(out))
            if out.output_type == "execute_result":
                out.execution_count = count
            outputs.append(out)
        cell.outputs = outputs
        cell.execution_count = count
        if outcome.get_result().failed:
            self.failed.setdefault(path, []).append(count)

    def pytest_sessionfinish(self) -> None:
        for path, notebook in self.files.items():
            nb = notebook.nb
            nb.metadata[KEY] = {"failed_cells": self.failed.get(path, [])}
            target = self.out / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def register(config: pytest.Config) -> None:
    """Keep the executed notebooks where ``COURSE_EXECUTED_DIR`` says, if it says."""
    out = os.environ.get(ENV)
    if out and not config.pluginmanager.has_plugin("course-executed"):
        config.pluginmanager.register(Keeper(Path(out)), "course-executed")


def record_run(out: Path, env: dict[str, str]) -> None:
    """Write ``out/run.json``: which cluster, Kubernetes version and commit executed the
    notebooks in ``out``, and when (the edition's front page says so)."""
    root = Path(__file__).resolve().parents[1]

    def ask(*cmd: str) -> str:
        try:
            done = subprocess.run(
                cmd, cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    version = ask(
        sys.executable, "-c", "from helpers.course import connect; print(connect().version())"
    )
    record = {
        "backend": env.get("COURSE_BACKEND", "local"),
        "kubernetes": version or "unknown",
        "commit": ask("git", "rev-parse", "--short=12", "HEAD") or "unknown",
        "changed_files": bool(ask("git", "status", "--porcelain", "--untracked-files=no")),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(record, indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    """As a plugin of its own (``-p executed``), outside this repository's conftest."""
    register(config)
