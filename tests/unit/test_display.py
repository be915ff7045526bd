"""kubectl_summary: kubectl's wall of ``… created`` / ``… deleted`` lines as one line per verb."""

from __future__ import annotations

from helpers.display import OUTPUT_COLUMNS, kubectl_summary


def test_every_verb_and_both_delete_formats() -> None:
    out = (
        "serviceaccount/deployer unchanged\n"
        "role.rbac.authorization.k8s.io/intern-role configured\n"
        'role.rbac.authorization.k8s.io "old" deleted\n'  # an older kubectl names no namespace
        'rolebinding.rbac.authorization.k8s.io "old" deleted\n\n'
    )
    assert kubectl_summary(out).splitlines() == [
        "unchanged serviceaccount deployer",
        "configured role intern-role",
        "deleted role and rolebinding old",
    ]


def test_many_objects_wrap_between_words_and_unknown_lines_stay() -> None:
    names = [f"intern-path-number-{n}" for n in range(12)]
    out = "".join(f"role.rbac.authorization.k8s.io/{name} created\n" for name in names)
    summary = kubectl_summary(out + "Warning: something kubectl said\n")
    lines = summary.splitlines()
    assert all(len(line) <= OUTPUT_COLUMNS for line in lines), summary
    assert lines[-1] == "Warning: something kubectl said"
    assert all(name in summary for name in names)
