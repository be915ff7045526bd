"""myst-nb's notebook reader for the edition: JupyterLab's folds become myst-nb's tags."""

from __future__ import annotations

import nbformat


def read(text: str) -> nbformat.NotebookNode:
    """The notebook, with ``hide-input`` where JupyterLab folds the source (the ✓ checks)
    and ``hide-output`` where it folds the outputs."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        folded = cell.get("metadata", {}).get("jupyter", {})
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if folded.get("source_hidden") and "hide-input" not in tags:
            tags.append("hide-input")
        if folded.get("outputs_hidden") and "hide-output" not in tags:
            tags.append("hide-output")
    return nb
