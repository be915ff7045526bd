"""helpers.names: one source of the course's names, so a workshop prefix reaches everything."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import names

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("labs/*.ipynb")])
MANIFESTS = sorted((ROOT / "manifests").glob("*.yaml"))
ALL = sorted([*names.NAMESPACES, *names.CLUSTER_SCOPED], key=len, reverse=True)
WORD = re.compile(r"(?<![\w.$-])(" + "|".join(map(re.escape, ALL)) + r")(?![\w-])")
#: ns("…") and cluster_scoped("…") are the only way a cell names a course object.
THROUGH_HELPER = re.compile(r'\b(?:ns|cluster_scoped)\("[\w-]+"\)')


def kubeconfig(tmp_path: Path, extension: dict | None) -> Path:
    context: dict = {"cluster": "c", "user": "u"}
    if extension is not None:
        context["extensions"] = [{"name": names.EXTENSION, "extension": extension}]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "x", "context": context}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_prefix_comes_from_the_kubeconfigs_current_context(tmp_path: Path) -> None:
    assert names.prefix_of_kubeconfig(kubeconfig(tmp_path, {"prefix": "ws1-07"})) == "ws1-07"
    assert names.prefix_of_kubeconfig(kubeconfig(tmp_path, None)) == ""
    assert names.prefix_of_kubeconfig(tmp_path / "missing") == ""


def test_prefix_order_env_then_kubeconfig_then_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kubeconfig(tmp_path, {"prefix": "ws2"})
    monkeypatch.setenv("COURSE_KUBECONFIG", str(path))
    monkeypatch.setenv("COURSE_BACKEND", "kubeconfig")
    monkeypatch.delenv(names.PREFIX_ENV, raising=False)
    assert names.prefix() == "ws2"
    assert names.ns("lab-04-rbac") == "ws2-lab-04-rbac"
    monkeypatch.setenv(names.PREFIX_ENV, "t1")
    assert names.prefix() == "t1"
    monkeypatch.setenv(names.PREFIX_ENV, "")
    assert names.prefix() == "" and names.ns("lab-04-rbac") == "lab-04-rbac"
    monkeypatch.delenv(names.PREFIX_ENV)
    monkeypatch.setenv("COURSE_BACKEND", "local")  # only a kubeconfig carries a prefix
    assert names.prefix() == ""


@pytest.mark.parametrize("bad", ["", "-x", "UPPER", "a_b", "x" * 21])
def test_a_prefix_must_keep_every_name_a_namespace_name(bad: str) -> None:
    if bad == "":
        assert names.ns("setup-ns", prefix=bad) == "setup-ns"
        return
    with pytest.raises(ValueError, match="pick one like"):
        names.valid_prefix(bad)


def test_longest_prefixed_name_is_a_valid_namespace() -> None:
    longest = max(names.course_names("x" * 20).values(), key=len)
    assert len(longest) <= 63


def test_unknown_names_are_refused() -> None:
    with pytest.raises(KeyError, match="not one of the course's namespaces"):
        names.ns("kube-system", prefix="p")


def test_round_trip() -> None:
    for base in names.NAMESPACES:
        moved = names.ns(base, prefix="ws3")
        assert names.unprefixed(moved, prefix="ws3") == base
        assert names.is_course_namespace(moved, prefix="ws3")
    assert not names.is_course_namespace("kube-system", prefix="ws3")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_moves_under_a_prefix(path: Path) -> None:
    text = names.localize(path.read_text(), prefix="ws9")
    left = [m.group(1) for m in WORD.finditer(text)]
    assert not left, f"{path.name} keeps unprefixed names: {left}"
    for doc in yaml.safe_load_all(text):
        ns = (doc or {}).get("metadata", {}).get("namespace")
        assert ns is None or ns.startswith("ws9-"), (path.name, ns)


def test_localize_leaves_other_words_alone() -> None:
    text = "namespace: kube-system\nname: controller-nsx  # controller-ns-auth-delegator\n"
    assert names.localize(text, "p") == (
        "namespace: kube-system\nname: controller-nsx  # p-controller-ns-auth-delegator\n"
    )
    assert names.localize(text, "") == text


def test_localized_manifests_are_written_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    out = names.manifests_dir("ws4")
    assert out != names.MANIFESTS and (out / "01-controller-sa.yaml").is_file()
    assert "namespace: ws4-controller-ns" in (out / "01-controller-sa.yaml").read_text()
    assert names.manifests_dir("") == names.MANIFESTS
    env = names.shell_env("ws4")
    assert env["CONTROLLER_NS"] == "ws4-controller-ns" and env["LAB_04_RBAC"] == "ws4-lab-04-rbac"
    assert env["MANIFESTS"] == str(out)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_take_course_names_from_the_helper(path: Path) -> None:
    """A course name in a code cell goes through ns() / cluster_scoped(), or $VAR in bash."""
    found = {}
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        bash = cell.source.startswith("%%bash")
        for line in cell.source.splitlines():
            code = line if bash else line.split("#")[0]
            code = THROUGH_HELPER.sub("", code)
            if WORD.search(code):
                found.setdefault(i, []).append(line.strip())
    assert not found, f"{path.name}: write names with ns(…) or $VARS: {found}"


@pytest.mark.parametrize("spelling", ["kubeconfig", "Kubeconfig", " KUBECONFIG ", "kubeconfig\n"])
def test_the_prefix_follows_the_backend_however_it_is_spelled(
    spelling: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COURSE_BACKEND=Kubeconfig picks the kubeconfig backend; it must keep the prefix too."""
    from helpers.cluster import wanted_backend
    from helpers.workshop import kubeconfigs

    path = kubeconfigs.write(
        tmp_path / "ws9-03.kubeconfig",
        kubeconfigs.kubeconfig("https://h:6443", b"CA", "t", "ws9-03", workshop="ws9"),
    )
    monkeypatch.setenv("COURSE_BACKEND", spelling)
    monkeypatch.setenv("COURSE_KUBECONFIG", str(path))
    monkeypatch.delenv("COURSE_PREFIX", raising=False)
    names._prefix.cache_clear()
    assert wanted_backend() == "kubeconfig"
    assert names.prefix() == "ws9-03" and names.workshop() == "ws9"
