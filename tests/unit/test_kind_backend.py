"""The kind backend's errors, work directory, node access and image loading (no Docker)."""

from __future__ import annotations

import inspect
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from helpers.cluster import auditpolicy, config, kind
from helpers.cluster.errors import ClusterError
from helpers.cluster.kind import HostFacts, NodeImage
from helpers.cluster.progress import Progress


class FakeKindCluster:
    """Stands in for pytest-kind's KindCluster: records what the backend asks of it.

    ``fail`` is raised by ``create`` (what kind or pytest-kind would raise).
    """

    made: list[dict[str, Any]]
    calls: list[tuple[str, Any]]
    fail: BaseException | None = None

    def __init__(self, name: str, **options: Any) -> None:
        type(self).made.append({"name": name, **options})
        Path(".pytest-kind", name).mkdir(parents=True, exist_ok=True)  # as pytest-kind does

    def create(self, config_file: Path) -> None:
        type(self).calls.append(("create", config_file))
        if self.fail is not None:
            raise self.fail

    def delete(self) -> None:
        type(self).calls.append(("delete", None))


@pytest.fixture
def fake() -> type[FakeKindCluster]:
    return type("Fake", (FakeKindCluster,), {"made": [], "calls": [], "fail": None})


@pytest.fixture
def backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: type[FakeKindCluster]
) -> kind.KindBackend:
    monkeypatch.setattr(kind, "host_facts", lambda: HostFacts())
    layout = config.Layout(cache=tmp_path / "cache", state=tmp_path / "state")
    return kind.KindBackend(layout=layout, progress=Progress(quiet=True), kind_cluster=fake)


@pytest.fixture
def kind_bin(tmp_path: Path) -> Path:
    path = tmp_path / "kind"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def one_sentence(message: str) -> bool:
    return message.count(". ") == 0 and message.endswith(".") and "\n" not in message


@pytest.mark.parametrize(
    "exc",
    [
        subprocess.CalledProcessError(1, ["kind", "create", "cluster"]),
        FileNotFoundError(2, "No such file or directory"),
        PermissionError(13, "Permission denied"),
    ],
)
def test_create_failures_become_one_sentence(
    backend: kind.KindBackend, kind_bin: Path, exc: BaseException, fake: type[FakeKindCluster]
) -> None:
    fake.fail = exc
    with pytest.raises(ClusterError) as info:
        backend.create(kind_bin, NodeImage())
    assert one_sentence(str(info.value)), str(info.value)
    assert "kind create cluster" in str(info.value)


def test_a_failed_kind_download_in_pytest_kind_becomes_one_sentence(
    backend: kind.KindBackend, tmp_path: Path, fake: type[FakeKindCluster]
) -> None:
    import requests

    fake.fail = requests.ConnectionError("Max retries exceeded")  # pytest-kind fetches kind
    with pytest.raises(ClusterError, match="Downloading kind failed") as info:
        backend.create(tmp_path / "not-downloaded-kind", NodeImage())
    assert one_sentence(str(info.value))


def test_the_pytest_kind_we_install_takes_what_the_backend_passes() -> None:
    """The fake above stands in for KindCluster: the real one must take the same arguments."""
    from pytest_kind import KindCluster

    init = inspect.signature(KindCluster.__init__).parameters
    assert {"name", "kubeconfig", "image", "kind_path", "kubectl_path"} <= set(init)
    assert "config_file" in inspect.signature(KindCluster.create).parameters
    assert callable(KindCluster.delete)


def test_create_writes_the_host_derived_config(
    backend: kind.KindBackend, kind_bin: Path, fake: type[FakeKindCluster]
) -> None:
    image = NodeImage("sa-course/kind-node:v1.36.1-abc", offline=True)
    backend.create(kind_bin, image)
    assert fake.made == [
        {
            "name": "sa-course",
            "kubeconfig": backend.kubeconfig,
            "image": image.ref,
            "kind_path": kind_bin,
            "kubectl_path": kind.kubectl_path(),
        }
    ]
    assert fake.calls == [("create", backend.config_file)]
    expected = kind.kind_config(image, HostFacts(), backend.node_files)
    assert backend.config_file.read_text() == expected
    policy = backend.node_files / "audit-policy.yaml"
    assert policy.read_text() == auditpolicy.POLICY, "the node mounts it"
    assert (backend.node_files / "sa-previous.pub").read_bytes().startswith(b"-----BEGIN PUBLIC")
    assert backend.previous_signing_key.stat().st_mode & 0o777 == 0o600
    assert not (backend.node_files / "sa-previous.key").exists(), "no private key in the node"
    patch = backend.node_files / "patches" / "kube-apiserver+json.yaml"
    assert patch.read_text() == kind.apiserver_manifest_patch()


def test_pytest_kind_work_dir_stays_out_of_the_current_directory(
    backend: kind.KindBackend, kind_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    real = kind.KindBackend(layout=backend.layout, progress=Progress(quiet=True))
    real.cluster(kind_bin)  # pytest-kind's own KindCluster: it makes its work dir in the CWD
    assert list(notebooks.iterdir()) == []
    assert (backend.dir / ".pytest-kind" / kind.CLUSTER_NAME).is_dir()
    assert Path.cwd() == notebooks


def test_up_without_docker_says_what_to_do(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: False)
    with pytest.raises(ClusterError, match="needs a running Docker engine"):
        backend.up()


def test_node_exec_runs_docker_exec_in_the_control_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        assert kw["check"] is False and kw["text"] is True
        return subprocess.CompletedProcess(cmd, 0, "600\n", "")

    monkeypatch.setattr(kind.subprocess, "run", run)
    proc = kind.node_exec(["stat", "-c", "%a", "/etc/kubernetes/pki/sa.key"])
    assert proc.stdout == "600\n"
    assert seen == [
        [
            "docker",
            "exec",
            "sa-course-control-plane",
            "stat",
            "-c",
            "%a",
            "/etc/kubernetes/pki/sa.key",
        ]
    ]


def test_node_command_lines_come_from_the_static_pod_manifests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = (
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n"
        "    - {name}\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n"
    )

    def node_exec(args: list[str], node: str = kind.NODE) -> subprocess.CompletedProcess[str]:
        name = Path(args[-1]).stem
        return subprocess.CompletedProcess(args, 0, manifest.format(name=name), "")

    monkeypatch.setattr(kind, "node_exec", node_exec)
    lines = kind.node_command_lines()
    assert set(lines) == {"kube-apiserver", "kube-controller-manager"}
    assert lines["kube-apiserver"][0] == "kube-apiserver"
    assert lines["kube-apiserver"][1].startswith("--service-account-issuer=")


def archive(path: Path, tags: list[str]) -> Path:
    with tarfile.open(path, "w") as tar:
        data = json.dumps([{"Config": "c.json", "RepoTags": tags, "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_only_archives_the_node_lacks_are_loaded(
    backend: kind.KindBackend, kind_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busybox = archive(tmp_path / "busybox.tar", [config.BUSYBOX_IMAGE])
    other = archive(tmp_path / "other.tar", ["docker.io/library/other:1"])
    monkeypatch.setattr(kind, "node_images", lambda: {config.BUSYBOX_IMAGE})
    loaded: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        loaded.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(kind.subprocess, "run", run)
    backend.load_image_archives(kind_bin, [busybox, other])
    assert loaded == [[str(kind_bin), "load", "image-archive", "--name", "sa-course", str(other)]]


def test_a_failed_image_load_is_one_sentence(
    backend: kind.KindBackend, kind_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = archive(tmp_path / "other.tar", ["docker.io/library/other:1"])
    monkeypatch.setattr(kind, "node_images", set)

    def run(cmd: list[str], **_: object) -> None:
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(kind.subprocess, "run", run)
    with pytest.raises(ClusterError, match="kind load image-archive") as info:
        backend.load_image_archives(kind_bin, [other])
    assert one_sentence(str(info.value))


def test_the_official_image_is_used_where_docker_has_it(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind.kindimage, "image_present", lambda ref: ref == config.KIND_NODE_IMAGE)
    monkeypatch.setattr(kind, "registry_answers", lambda image: pytest.fail("asked a registry"))
    assert kind.choose_node_image(backend.layout, backend.progress) == NodeImage()


def test_the_official_image_is_pulled_where_a_registry_answers(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind.kindimage, "image_present", lambda ref: False)
    monkeypatch.setattr(kind, "registry_answers", lambda image: True)
    monkeypatch.setattr(kind.kindimage, "ensure_node_image", lambda *a: pytest.fail("built"))
    assert kind.choose_node_image(backend.layout, backend.progress) == NodeImage()


def test_without_a_registry_the_course_builds_its_own_image(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind.kindimage, "image_present", lambda ref: False)
    monkeypatch.setattr(kind, "registry_answers", lambda image: False)
    monkeypatch.setattr(kind.kindimage, "ensure_node_image", lambda lay, p: "sa-course/n:1")
    chosen = kind.choose_node_image(backend.layout, backend.progress)
    assert chosen == NodeImage("sa-course/n:1", offline=True)


def test_registry_check_is_quick_and_false_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    timeouts: list[object] = []

    def refuse(url: str, timeout: object = None, **_: object) -> None:
        timeouts.append(timeout)
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(requests, "get", refuse)
    assert kind.registry_answers(config.KIND_NODE_IMAGE) is False
    assert timeouts == [kind.CONNECT_TIMEOUT] and kind.CONNECT_TIMEOUT <= 5


def fake_up_steps(
    backend: kind.KindBackend, kind_bin: Path, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> list[object]:
    """Replace the steps of up() that need Docker; record what up() does, in order."""
    from helpers.cluster import toolsimage

    steps: list[object] = []
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    monkeypatch.setattr(kind, "ensure_kind", lambda layout, progress: kind_bin)
    monkeypatch.setattr(backend, "exists", lambda k: exists)
    monkeypatch.setattr(
        kind, "choose_node_image", lambda layout, p: steps.append("choose") or NodeImage()
    )
    monkeypatch.setattr(backend, "create", lambda k, image: steps.append(("create", image.ref)))
    monkeypatch.setattr(backend, "wait_until_ready", lambda: steps.append("wait"))
    monkeypatch.setattr(
        toolsimage,
        "ensure_pod_images",
        lambda lay, p: {
            config.PAUSE_IMAGE: Path("pause.tar"),
            config.BUSYBOX_IMAGE: Path("busybox.tar"),
            config.TOOLS_IMAGE: Path("tools.tar"),
        },
    )
    monkeypatch.setattr(
        backend, "load_image_archives", lambda k, tars: steps.append(("load", list(tars)))
    )
    backend.dir.mkdir(parents=True, exist_ok=True)
    backend.kubeconfig.write_text("")
    return steps


def test_up_reuses_an_existing_cluster_and_loads_missing_images(
    backend: kind.KindBackend, kind_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = fake_up_steps(backend, kind_bin, monkeypatch, exists=True)
    assert backend.up() == backend.kubeconfig
    assert steps == ["wait", ("load", [Path("busybox.tar"), Path("tools.tar")])]
    assert backend.kubeconfig.stat().st_mode & 0o777 == 0o600


def test_up_creates_a_missing_cluster_from_the_chosen_image(
    backend: kind.KindBackend, kind_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = fake_up_steps(backend, kind_bin, monkeypatch, exists=False)
    backend.up()
    assert steps == [
        "choose",
        ("create", config.KIND_NODE_IMAGE),
        "wait",
        ("load", [Path("busybox.tar"), Path("tools.tar")]),
    ]


def test_down_deletes_the_cluster_through_pytest_kind(
    backend: kind.KindBackend,
    kind_bin: Path,
    fake: type[FakeKindCluster],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    monkeypatch.setattr(kind, "find_kind", lambda layout: kind_bin)
    backend.dir.mkdir(parents=True)
    backend.kubeconfig.write_text("")
    backend.down()
    assert [m["kind_path"] for m in fake.made] == [kind_bin]
    assert fake.calls == [("delete", None)]
    assert not backend.kubeconfig.exists()


def test_down_without_a_kind_binary_removes_the_labelled_node_containers(
    backend: kind.KindBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "abc123\n" if cmd[1] == "ps" else "", "")

    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    monkeypatch.setattr(kind, "find_kind", lambda layout: None)
    monkeypatch.setattr(kind.subprocess, "run", run)
    backend.down()
    assert seen == [
        ["docker", "ps", "-aq", "--filter", "label=io.x-k8s.kind.cluster=sa-course"],
        ["docker", "rm", "-f", "-v", "abc123"],
    ]
