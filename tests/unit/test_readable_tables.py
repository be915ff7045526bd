"""connect() makes every DataFrame a notebook shows readable: left-aligned, text wrapped."""

from __future__ import annotations

import pandas as pd
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
