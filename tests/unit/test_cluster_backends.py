"""Choosing a backend (the kind backend's commands are tested in test_kind_backend.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import cluster
from helpers.cluster import config, kind
from helpers.cluster.errors import ClusterError


def test_backend_comes_from_course_backend() -> None:
    for name in cluster.BACKENDS:
        assert cluster.choose_backend({"COURSE_BACKEND": name})[0] == name


def test_unknown_backend_is_one_plain_sentence() -> None:
    with pytest.raises(ClusterError, match="is not a backend: set it to auto, local, kind"):
        cluster.choose_backend({"COURSE_BACKEND": "minikube"})


def test_auto_picks_kind_only_when_docker_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind, "docker_available", lambda: True)
    monkeypatch.setattr(kind, "test_only_docker", lambda: False)  # a learner's own Docker
    assert cluster.choose_backend({})[0] == "kind"
    monkeypatch.setattr(kind, "docker_available", lambda: False)
    assert cluster.choose_backend({})[0] == "local"


def test_kind_node_image_matches_the_local_kubernetes_version() -> None:
    doc = yaml.safe_load(kind.kind_config())
    assert doc["nodes"] == [{"role": "control-plane", "image": config.KIND_NODE_IMAGE}]
    # kind's own default node image for this release's minor, pinned by digest
    minor = config.release().minor
    assert config.KIND_NODE_IMAGE.startswith(f"kindest/node:v{minor}."), config.KIND_NODE_IMAGE
    assert "@sha256:" in config.KIND_NODE_IMAGE
    assert doc["networking"]["apiServerAddress"] == "127.0.0.1"


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kind.KindBackend:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kind").write_text(
        ""
    )  # pytest-kind downloads kind only when this path is missing
    monkeypatch.setattr(kind.shutil, "which", lambda name: str(tmp_path / "bin" / name))
    return kind.KindBackend(layout=config.Layout(cache=tmp_path, state=tmp_path / "state"))


def test_kind_without_docker_says_what_to_do(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind, "docker_available", lambda: False)
    with pytest.raises(ClusterError, match="needs a running Docker engine"):
        backend.up()


def test_docker_available_is_false_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind.shutil, "which", lambda name: None)
    assert kind.docker_available() is False


def test_kind_is_downloaded_at_the_pinned_version() -> None:
    assert f"/download/{config.KIND_VERSION}/kind-linux-" in kind.kind_download_url()


def test_the_test_runners_docker_engine_does_not_pick_kind(tmp_path, monkeypatch) -> None:
    """`make test` may leave its own dockerd running: `make lab` must still get local."""
    import os

    from helpers import cluster
    from helpers.cluster import kind

    pid_file = tmp_path / "dockerd.pid"
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    monkeypatch.delenv("COURSE_BACKEND", raising=False)
    monkeypatch.setattr(kind, "TEST_ONLY_DOCKER_PID", pid_file)
    assert cluster.choose_backend()[0] == "kind", "a learner's own Docker picks kind"
    pid_file.write_text(str(os.getpid()))  # a live process stands for the test-only dockerd
    name, why = cluster.choose_backend()
    assert name == "local" and "make test" in why
    assert cluster.choose_backend({"COURSE_BACKEND": "kind"})[0] == "kind"
