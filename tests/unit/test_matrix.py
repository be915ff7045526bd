"""tests/matrix.py's README table, from JUnit XML as pytest writes it for nbval and modules."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import matrix  # noqa: E402

XML = """<testsuites><testsuite>
<testcase classname="notebooks.00_setup.ipynb" name="Cell 0" time="1"/>
<testcase classname="notebooks.00_setup.ipynb" name="Cell 3" time="1"><failure/></testcase>
<testcase classname="labs.02_leaked_token_lab.ipynb" name="Cell 0" time="1"/>
<testcase classname="tests.labs.test_checkers" name="test_x" time="1"/>
</testsuite></testsuites>"""


def test_the_table_names_each_notebook_and_its_first_failing_cell(tmp_path: Path) -> None:
    xml = tmp_path / "1.37.xml"
    xml.write_text(XML)
    text = matrix.table({"1.37.2": matrix.results(xml)})
    assert "| [00_setup](notebooks/00_setup.ipynb) | failed: Cell 3 |" in text
    assert "| [02_leaked_token_lab](labs/02_leaked_token_lab.ipynb) | ✓ passed |" in text
    assert text.endswith("| cluster and checker tests | ✓ all passed |")
