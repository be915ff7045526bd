"""Nothing in the course is tied to one cluster: no cell, checker or manifest hard-codes what
each cluster chooses for itself (node names, the issuer, the API server's audiences), and no
manifest can leave a cluster-wide powerful binding behind on a shared cluster."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))
CHECKERS = sorted((ROOT / "helpers" / "labs").glob("*.py"))
MANIFESTS = sorted((ROOT / "manifests").glob("*.yaml"))
#: The article's TokenReview answer, kept verbatim to be compared with, never applied.
QUOTED_FROM_THE_ARTICLE = {"07-tokenreview-article-answer.yaml"}

#: What differs between clusters, written as a literal value.
HARD_CODED = {
    "an issuer or audience URL": re.compile(
        r"""["'\s=]https://kubernetes\.default\.svc(\.cluster\.local)?["'\s]"""
    ),
    "a node name": re.compile(
        r"""["']localhost["']"""
        r"|read_node\(\s*[\"']"
        r"|--bound-object-kind[ =]+Node\b[^\n]*--bound-object-name[ =]+[a-z]"
        r"|\bkind-control-plane\b|\bsa-course-control-plane\b|\bcontroller-node\b"
    ),
}


def hard_coded(text: str) -> list[str]:
    """What cluster-specific values ``text`` writes out literally."""
    return [what for what, pattern in HARD_CODED.items() if pattern.search(text)]


URL, NODE = ["an issuer or audience URL"], ["a node name"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('assert claims["aud"] == ["https://kubernetes.default.svc"]', URL),
        ('ISSUER = "https://kubernetes.default.svc.cluster.local"', URL),
        ("kubectl create token sa --audience https://kubernetes.default.svc ", URL),
        ('node = course.core.read_node("localhost")', NODE),
        ('assert pod.spec.node_name == "localhost"', NODE),
        ("kubectl create token x --bound-object-kind Node --bound-object-name localhost", NODE),
        ("docker exec sa-course-control-plane cat /etc/kubernetes/pki/sa.pub", NODE),
        ("node = course.core.read_node(NODE)", []),
        ("kubectl create token x --bound-object-kind Secret --bound-object-name anchor", []),
        ('kubectl create token x --bound-object-kind Node --bound-object-name "$NODE"', []),
        ('curl --cacert "$D/ca.crt" https://kubernetes.default.svc/api', []),
        ("ISSUER = facts.issuer(course)", []),
    ],
)
def test_the_detector_catches_hard_coded_values(text: str, found: list[str]) -> None:
    assert hard_coded(text) == found


def test_there_is_something_to_check() -> None:
    assert NOTEBOOKS and LABS and CHECKERS and MANIFESTS


@pytest.mark.parametrize("path", NOTEBOOKS + LABS, ids=lambda p: p.name)
def test_no_notebook_cell_hard_codes_a_cluster_value(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    offending = {
        i: hard_coded(cell.source)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and hard_coded(cell.source)
    }
    assert not offending, (
        f"{path.name}: cells {offending} write out a value each cluster chooses for itself; "
        "read it from the cluster (helpers.facts, the Pod's spec.nodeName, course.control_plane)"
    )


@pytest.mark.parametrize("path", CHECKERS, ids=lambda p: p.name)
def test_no_checker_hard_codes_a_cluster_value(path: Path) -> None:
    assert not hard_coded(path.read_text()), path.name


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_no_manifest_hard_codes_a_cluster_value(path: Path) -> None:
    if path.name in QUOTED_FROM_THE_ARTICLE:
        return
    assert not hard_coded(path.read_text()), path.name


POWERFUL_CLUSTER_ROLES = {"cluster-admin", "admin", "edit"}


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_no_manifest_grants_a_powerful_role_cluster_wide(path: Path) -> None:
    """A notebook stopped halfway must never leave a cluster-wide admin behind."""
    wildcard_roles = {
        d["metadata"]["name"]
        for m in MANIFESTS
        for d in _documents(m)
        if d.get("kind") == "ClusterRole"
        and any("*" in (r.get("verbs") or []) + (r.get("resources") or []) for r in d["rules"])
    }
    for doc in _documents(path):
        if doc.get("kind") != "ClusterRoleBinding":
            continue
        role = doc["roleRef"]["name"]
        assert role not in POWERFUL_CLUSTER_ROLES | wildcard_roles, (
            f"{path.name}: ClusterRoleBinding {doc['metadata']['name']} grants {role} "
            "cluster-wide; use a RoleBinding in the notebook's own namespace"
        )
