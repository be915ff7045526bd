"""Sphinx configuration of the rendered edition (tools/edition.py builds with it)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

project = "How Kubernetes authenticates internal access"
html_title = "How Kubernetes authenticates internal access"
root_doc = "index"
extensions = ["myst_nb", "sphinxcontrib.mermaid"]
exclude_patterns = ["_build", "_static", "**/.ipynb_checkpoints"]
# `%%bash` cells are highlighted as the notebook's language (Python) as far as that goes
suppress_warnings = ["misc.highlighting_failure"]
# The notebooks arrive executed (tests/executed.py): never run one here.
nb_execution_mode = "off"
# JupyterLab's folded cells (jupyter.source_hidden) become myst-nb's hide-input: <details>.
nb_custom_formats = {".ipynb": ["tools.edition_conf.reader.read", {}]}
nb_code_prompt_show = "✓ checks (show)"
nb_code_prompt_hide = "✓ checks (hide)"
nb_ipywidgets_js = {}  # the course has no widgets: never add their scripts from a CDN
# ```mermaid fences in markdown cells: the mermaid directive, rendered in the browser
myst_fence_as_directive = ["mermaid"]
myst_heading_anchors = 3  # README.md#contents and other heading links resolve
mermaid_use_local = "mermaid/mermaid.esm.min.mjs"  # copied into _static by tools/edition.py
html_static_path = [str(ROOT / "build" / "book" / "src" / "_static")]
html_theme = "sphinx_book_theme"
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,  # its sources are not published (html_copy_source)
}
html_copy_source = False  # the executed notebooks are published as pages only
html_show_sourcelink = False
