"""Which cluster a notebook or test meets: one record per backend, and the CLI's `running`."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import cluster
from helpers.cluster import __main__ as cli


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_BACKEND", raising=False)
    monkeypatch.delenv("COURSE_KUBECONFIG", raising=False)
    return tmp_path


def _kubeconfig(cache: Path, name: str) -> Path:
    path = cache / f"{name}.kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


def test_each_backend_keeps_its_own_record(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster._record("local", _kubeconfig(cache, "local"))
    cluster._record("kind", _kubeconfig(cache, "kind"))
    assert cluster.current()["backend"] == "kind", "without COURSE_BACKEND: the last one started"
    monkeypatch.setenv("COURSE_BACKEND", "local")
    assert cluster.current() == {"backend": "local", "kubeconfig": str(cache / "local.kubeconfig")}
    assert cluster.current("kind")["kubeconfig"] == str(cache / "kind.kubeconfig")


def test_forgetting_one_backend_keeps_the_other(cache: Path) -> None:
    cluster._record("local", _kubeconfig(cache, "local"))
    cluster._record("kind", _kubeconfig(cache, "kind"))
    cluster._forget("kind")
    assert cluster.current("kind") is None
    assert cluster.current("local")["backend"] == "local"
    assert cluster.current() is None, "the last one started is gone: nothing is current"


def test_the_kubeconfig_backend_reads_the_environment(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _kubeconfig(cache, "existing")
    monkeypatch.setenv("COURSE_BACKEND", "kubeconfig")
    monkeypatch.setenv("COURSE_KUBECONFIG", str(path))
    assert cluster.current() == {"backend": "kubeconfig", "kubeconfig": str(path)}
    monkeypatch.setenv("COURSE_KUBECONFIG", str(cache / "missing"))
    assert cluster.current() is None


def test_a_record_whose_kubeconfig_is_gone_is_no_cluster(cache: Path) -> None:
    path = _kubeconfig(cache, "local")
    cluster._record("local", path)
    path.unlink()
    assert cluster.current("local") is None


def test_running_is_a_command_and_says_no_without_a_cluster(cache: Path) -> None:
    # `make test` asks this before it starts a cluster, to know whether to stop it after.
    assert cli.main(["running"]) == 1
    cluster._record("local", _kubeconfig(cache, "local"))  # a kubeconfig that answers nothing
    assert cli.main(["running"]) == 1
