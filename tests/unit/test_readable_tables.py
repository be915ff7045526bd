"""connect() makes every DataFrame a notebook shows readable: left-aligned, text wrapped."""

from __future__ import annotations

import pandas as pd
from IPython import get_ipython
from IPython.testing.globalipapp import start_ipython

from helpers.display import TABLE_CLASS, readable_tables


def test_a_kernel_shows_dataframes_left_aligned_and_whole() -> None:
    shell = start_ipython()
    readable_tables()
    readable_tables()  # twice is harmless (connect() runs in every notebook)
    html = shell.display_formatter.formatters["text/html"].lookup(pd.DataFrame())(
        pd.DataFrame({"reason": ["a server message " * 10]})
    )
    assert TABLE_CLASS in html and "text-align: left" in html and "}}" not in html
    assert ("a server message " * 10).strip() in html, "not cut at pandas' 50 characters"


def test_a_series_is_a_table_of_one_column_without_its_dtype() -> None:
    shell = start_ipython() or get_ipython()  # one shell per process
    readable_tables()
    answers = pd.Series({"list configmaps as deployer": "403 a server message"}, name="here")
    html = shell.display_formatter.formatters["text/html"].lookup(answers)(answers)
    assert TABLE_CLASS in html and "<th>list configmaps as deployer</th>" in html
    assert "here" in html and "dtype" not in html


def test_the_tables_style_outweighs_jupyterlabs_right_alignment() -> None:
    """JupyterLab 4 right-aligns ``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td``:
    two classes and an element; the course's rule needs more to win (CSS specificity)."""
    from helpers.display import _CELLS

    for selector in _CELLS.split(","):
        classes, elements = selector.count("."), len(selector.split())
        assert (classes, elements) > (2, 1), selector
