"""Nothing the course runs waits for ever: every command it starts has a timeout.

Long-running processes (the local cluster's components, supervised in the background) are
started with ``subprocess.Popen`` and are not commands; everything else passes ``timeout=``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Files still to be brought in line (listed, so that the list only shrinks).
PENDING: set[str] = set()


def calls_without_timeout(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "subprocess"
            and node.func.attr in {"run", "call", "check_call", "check_output"}
            and not any(k.arg == "timeout" for k in node.keywords)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_command_of_the_course_has_a_timeout() -> None:
    files = sorted((ROOT / "helpers").rglob("*.py"))
    assert files
    missing = [
        c
        for f in files
        if str(f.relative_to(ROOT)) not in PENDING
        for c in calls_without_timeout(f)
    ]
    assert not missing, "subprocess calls without timeout=: " + ", ".join(missing)
