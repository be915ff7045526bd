"""The course's files keep their promises: anatomy, navigation, no outputs, no secrets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tools import nav

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))
ALL = NOTEBOOKS + LABS

SECRET = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"  # a JWT
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"  # a PEM private key
    r"|client-key"
    r"-data:"  # a kubeconfig with an embedded key (split: not a match itself)
)


def test_the_course_has_notebooks() -> None:
    # A broken glob must not make a green run.
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    assert not nav.has_outputs(path), f"run `python -m tools.nav` to strip outputs of {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_anatomy(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    assert first.startswith("# "), "opens with an H1 title"
    assert "In this notebook you will" in first and "Prerequisites" in first
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Recap", "## Check your understanding", "## Further reading"):
        assert heading in text, f"{path.name} lacks '{heading}'"
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("connect()" in c for c in code[:2]), "the setup cell connects to the cluster"


MERMAID = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_sequence_diagrams_keep_semicolons_out_of_their_text(path: Path) -> None:
    """In a Mermaid sequence diagram ``;`` ends a statement: one in a message or a note
    breaks the whole diagram (JupyterLab shows a parse error instead). Write ``,`` or ``#59;``."""
    nb = nbformat.read(path, as_version=4)
    broken = []
    for cell in nb.cells:
        for block in MERMAID.findall(cell.source if cell.cell_type == "markdown" else ""):
            if block.lstrip().startswith("sequenceDiagram"):
                broken += [ln.strip() for ln in block.splitlines() if ";" in ln.replace("#59;", "")]
    assert not broken, f"{path.name}: {broken}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_stay_light(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    shown = nav.visible_cells(nb)
    assert shown <= nav.VISIBLE_CELLS_AIM, (
        f"{path.name} shows {shown} unfolded cells; merge prose and steps down to about 30"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_folded_cells_hand_nothing_on(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert not nav.names_from_checks(nb), (
        f"{path.name}: an unfolded cell uses a name only a folded check cell defines"
    )


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_folded_cells_only_check(path: Path) -> None:
    """A folded ✓ cell is skipped by a reader and stops at its first failed assert: a step
    that changes the cluster must be visible, never hidden in one."""
    nb = nbformat.read(path, as_version=4)
    changes = nav.folded_changes(nb)
    assert not changes, f"{path.name}: folded cells change the cluster: {'; '.join(changes)}"


_GA = re.compile(r"\bGA(?: in| since| from)? (?:Kubernetes )?(1\.\d+)")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_a_feature_has_one_ga_date(path: Path) -> None:
    """Where a notebook names a feature gate and a GA release in one sentence, the release is
    the one ``helpers.facts.FEATURES`` gives (the one place each date is written)."""
    from helpers.facts import FEATURES

    nb = nbformat.read(path, as_version=4)
    text = " ".join(c.source for c in nb.cells)
    wrong = []
    for sentence in re.split(r"(?<=[.;:|])\s+|\n\n", text):
        for feature in FEATURES.values():
            if not feature.gate or feature.gate not in sentence:
                continue
            others = [f.gate for f in FEATURES.values() if f.gate and f.gate in sentence]
            if len(others) > 1:
                continue  # two gates in one sentence: the dates cannot be told apart
            for ga in _GA.findall(sentence):
                if not feature.ga or ga != ".".join(map(str, feature.ga)):
                    wrong.append(f"{feature.gate}: GA {ga} in {sentence.strip()[:80]!r}")
    assert not wrong, f"{path.name}: " + "; ".join(wrong)


def test_navigation_and_contents_are_in_step() -> None:
    problems = nav.sync(ROOT, check=True)
    assert not problems, "run `python -m tools.nav`: " + "; ".join(problems)


def test_no_credentials_in_tracked_files() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files listed nothing"
    leaks = []
    for name in tracked:
        path = ROOT / name
        if name.startswith("tests/") and name.endswith(".py"):
            continue  # tests build fake tokens and keys at run time, never literal ones
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if SECRET.search(text):
            leaks.append(name)
    assert not leaks, f"these tracked files look like they hold a token or key: {leaks}"


def test_jupyterlab_settings_name_real_settings() -> None:
    # The course's overrides.json is ignored silently if a plugin or key is misspelt:
    # check each against the schema of the JupyterLab this environment installs.
    import json
    import sys

    overrides = json.loads((ROOT / "helpers" / "jupyterlab" / "overrides.json").read_text())
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    for plugin, settings in overrides.items():
        package, name = plugin.split(":")
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        for key, value in settings.items():
            assert key in schema["properties"], f"{plugin} has no setting {key!r}"
            allowed = [c["const"] for c in schema["properties"][key].get("oneOf", [])]
            assert not allowed or value in allowed, f"{plugin}:{key} cannot be {value!r}"
