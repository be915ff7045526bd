"""helpers.cluster.settings: the environment is read in one place, and every spelling agrees."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_names import kubeconfig  # tests/unit is on sys.path (rootdir-relative imports)

from helpers import cluster, names
from helpers.cluster import settings as settings_module
from helpers.cluster.errors import ClusterError
from helpers.cluster.existing import kubeconfig_path
from helpers.cluster.settings import Settings, choose, chosen, settings

ROOT = Path(__file__).resolve().parents[2]
SPELLINGS = ["kubeconfig", "Kubeconfig", " KUBECONFIG ", "kubeconfig\n", "\tKubeConfig"]
#: The only writes to os.environ: connect() hands the cluster to %%bash cells (KUBECONFIG,
#: the course's names) and puts the course's kubectl on PATH. None of them steers the course.
ALLOWED_WRITES = {
    ("helpers/course.py", "_ensure_kubectl_on_path"),
    ("helpers/course.py", "connect"),
}


@pytest.fixture(autouse=True)
def _nothing_chosen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("COURSE_BACKEND", "COURSE_KUBECONFIG", "COURSE_PREFIX", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    saved = dict(settings_module._chosen)
    settings_module._chosen.clear()
    yield
    settings_module._chosen.clear()
    settings_module._chosen.update(saved)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_backend_means_the_same_everywhere(
    spelling: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster layer and the names agree: a workshop kubeconfig gets its prefix."""
    path = kubeconfig(tmp_path, {"prefix": "ws1-07"})
    monkeypatch.setenv("COURSE_BACKEND", spelling)
    monkeypatch.setenv("COURSE_KUBECONFIG", str(path))
    assert cluster.wanted_backend() == "kubeconfig"
    assert cluster.choose_backend()[0] == "kubeconfig"
    assert kubeconfig_path() == path
    assert names.prefix() == "ws1-07"
    assert names.ns("controller-ns") == "ws1-07-controller-ns"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_choice_made_in_code_means_what_the_environment_would(
    spelling: str, tmp_path: Path
) -> None:
    """connect(backend=…, kubeconfig=…) chooses without touching os.environ."""
    path = kubeconfig(tmp_path, {"prefix": "ws1-08"})
    choose(backend=spelling, kubeconfig=str(path))
    assert cluster.wanted_backend() == "kubeconfig"
    assert names.prefix() == "ws1-08"
    choose(prefix="ws1-09")
    assert names.ns("controller-ns") == "ws1-09-controller-ns"


def test_an_empty_prefix_means_none_and_auto_means_unset() -> None:
    assert Settings.from_env({"COURSE_PREFIX": ""}).prefix == ""
    assert Settings.from_env({}).prefix is None
    for auto in ("", "auto", " AUTO "):
        assert Settings.from_env({"COURSE_BACKEND": auto}).backend is None


def test_kubeconfig_is_the_first_file_of_KUBECONFIG_unless_the_course_names_one() -> None:
    both = {"KUBECONFIG": "/a/one:/a/two", "COURSE_KUBECONFIG": "/b/course"}
    assert Settings.from_env({"KUBECONFIG": "/a/one:/a/two"}).kubeconfig == Path("/a/one")
    assert Settings.from_env(both).kubeconfig == Path("/b/course")
    assert Settings.from_env({}).kubeconfig == Path.home() / ".kube" / "config"


def test_a_backend_that_is_none_gets_one_sentence() -> None:
    with pytest.raises(ClusterError, match="not a backend: set it to auto, local, kind"):
        cluster.choose_backend({"COURSE_BACKEND": " Minikube "})
    with pytest.raises(ClusterError, match="not a port number"):
        Settings.from_env({"COURSE_API_PORT": "64 43"})


def test_chosen_lasts_for_its_block() -> None:
    with chosen(kubernetes="1.34") as inside:
        assert inside.kubernetes == "1.34" == settings({}).kubernetes
    assert settings({}).kubernetes == ""
    with pytest.raises(TypeError, match="not a setting: colour"):
        choose(colour="blue")


def _environ_uses(path: Path) -> Iterator[tuple[str, str, int]]:
    """(how, function, line) for each read or write of os.environ / os.getenv in ``path``."""
    tree = ast.parse(path.read_text())
    functions: list[tuple[int, int, str]] = [
        (node.lineno, node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
    ]

    def function_at(line: int) -> str:
        inside = [f for f in functions if f[0] <= line <= f[1]]
        return min(inside, key=lambda f: f[1] - f[0])[2] if inside else "<module>"

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            if not (isinstance(node.value, ast.Name) and node.value.id == "os"):
                continue
            parent_call = None
            for outer in ast.walk(tree):
                if isinstance(outer, ast.Attribute) and outer.value is node:
                    parent_call = outer.attr
            how = "read"
            if parent_call in ("update", "pop", "setdefault", "clear", "__setitem__"):
                how = "write"
            yield how, function_at(node.lineno), node.lineno
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Attribute)
                    and target.value.attr == "environ"
                ):
                    yield "write", function_at(node.lineno), node.lineno


def _sources() -> list[Path]:
    return sorted([*ROOT.glob("helpers/**/*.py"), *ROOT.glob("tools/*.py")])


def test_only_the_settings_module_reads_the_course_s_variables() -> None:
    """Other modules may copy os.environ for a child process, never pick a value from it."""
    offenders = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "helpers/cluster/settings.py":
            continue
        text = path.read_text()
        for needle in ("os.environ.get(", "os.getenv(", "os.environ["):
            for number, line in enumerate(text.splitlines(), 1):
                if needle in line and not line.lstrip().startswith("#"):
                    allowed = needle == "os.environ.get(" and '"PATH"' in line
                    if not allowed and not (needle == "os.environ[" and "= " in line):
                        offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "read the environment through helpers.cluster.settings:\n" + "\n".join(
        offenders
    )


def test_nothing_writes_os_environ_to_steer_the_course() -> None:
    writes = [
        f"{path.relative_to(ROOT).as_posix()}:{line} in {function}"
        for path in _sources()
        for how, function, line in _environ_uses(path)
        if how == "write" and (path.relative_to(ROOT).as_posix(), function) not in ALLOWED_WRITES
    ]
    assert not writes, "choose settings with helpers.cluster.settings.choose():\n" + "\n".join(
        writes
    )


def test_auto_chosen_in_code_means_auto_even_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COURSE_BACKEND", "kubeconfig")
    choose(backend=" Auto ")
    assert settings().backend is None and cluster.wanted_backend() is None
