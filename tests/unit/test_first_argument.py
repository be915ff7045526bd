"""One convention for a course helper's first argument (CONTRIBUTING.md, "Helpers").

A helper that talks to the cluster through one typed API takes that API (``core``,
``rbac``, ``authn``, ``authz``, ``apps``, or ``api``, the ApiClient for raw paths), so a
learner sees in the call which API the lesson is about; a helper that needs more than one,
or something only the connected course knows (the node, the control plane, ``get_raw``,
``kubectl``, the version), takes ``course``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The first argument's name, and the annotation it must carry.
CLIENTS = {
    "core": "client.CoreV1Api",
    "rbac": "client.RbacAuthorizationV1Api",
    "authn": "client.AuthenticationV1Api",
    "authz": "client.AuthorizationV1Api",
    "apps": "client.AppsV1Api",
    "api": "client.ApiClient",
    "course": "Course",
}
#: What a ``course`` gives that no single typed API does.
COURSE_ONLY = {
    "node", "control_plane", "get_raw", "kubectl", "version", "api", "backend",
    "own_cluster", "kubeconfig", "client_for_token", "fresh_namespace", "delete_namespace",
}  # fmt: skip
TYPED = {"core", "rbac", "authn", "authz", "apps", "certificates"}
MODULES = sorted([*ROOT.glob("helpers/*.py"), ROOT / "helpers/labs/common.py"])


def _public_functions(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.args.args
    ]


def _course_uses(function: ast.FunctionDef) -> tuple[set[str], bool]:
    """Attributes read from ``course``, and whether ``course`` is handed on whole."""
    attrs = {
        node.attr
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "course"
    }
    handed_on = any(
        isinstance(arg, ast.Name) and arg.id == "course"
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        for arg in [*node.args, *(k.value for k in node.keywords)]
    )
    return attrs, handed_on


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_helper_takes_the_one_api_it_uses_or_the_course(path: Path) -> None:
    wrong = []
    for function in _public_functions(path):
        first = function.args.args[0]
        if first.arg not in CLIENTS:
            continue
        annotation = ast.unparse(first.annotation) if first.annotation else ""
        if annotation != CLIENTS[first.arg]:
            wrong.append(
                f"{function.name}({first.arg}: {annotation or '?'}): annotate it "
                f"{CLIENTS[first.arg]}"
            )
        if first.arg == "course":
            attrs, handed_on = _course_uses(function)
            typed = attrs & TYPED
            if not handed_on and not attrs & COURSE_ONLY and len(typed) == 1:
                wrong.append(f"{function.name}(course) uses only course.{typed.pop()}: take that")
    assert not wrong, f"{path.name}: " + "; ".join(wrong)


def test_the_rule_is_written_down() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert "first argument" in text and "test_first_argument.py" in text
