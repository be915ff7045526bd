"""Which kind binary the backend uses, and in what order it looks: no Docker, no network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from helpers.cluster import build, config, kind
from helpers.cluster.progress import Progress


@pytest.fixture
def layout(tmp_path: Path) -> config.Layout:
    return config.Layout(cache=tmp_path / "cache", state=tmp_path / "state")


def fake_kind(path: Path, version: str = config.KIND_VERSION, clusters: str = "") -> Path:
    """A shell script that answers `version` and `get clusters` like kind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = version ] && echo "kind {version} go1.26.8 linux/amd64"\n'
        f'[ "$1" = get ] && printf "{clusters}"\n'
        "exit 0\n"
    )
    path.chmod(0o755)
    return path


def make_built(layout: config.Layout) -> Path:
    out = kind.built_kind(layout)
    fake_kind(out)
    (out.parent / build.STAMP).write_text("recipe\n")
    return out


@pytest.fixture
def no_path_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind, "installed_kind", lambda version=config.KIND_VERSION: None)


def test_kind_version_is_read_from_the_binary(tmp_path: Path) -> None:
    assert kind.kind_version_of(fake_kind(tmp_path / "kind", "v0.31.0")) == "v0.31.0"
    assert kind.kind_version_of(tmp_path / "missing") is None


def test_installed_kind_is_used_only_at_the_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    right = fake_kind(tmp_path / "right" / "kind")
    wrong = fake_kind(tmp_path / "wrong" / "kind", "v0.20.0")
    monkeypatch.setattr(kind.shutil, "which", lambda name: str(right))
    assert kind.installed_kind() == right
    monkeypatch.setattr(kind.shutil, "which", lambda name: str(wrong))
    assert kind.installed_kind() is None


def test_installed_kind_comes_first(
    tmp_path: Path, layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = fake_kind(tmp_path / "path" / "kind")
    monkeypatch.setattr(kind, "installed_kind", lambda version=config.KIND_VERSION: installed)
    make_built(layout)
    assert kind.find_kind(layout) == installed


@pytest.mark.usefixtures("no_path_kind")
def test_then_the_downloaded_release_then_the_built_binary(layout: config.Layout) -> None:
    assert kind.find_kind(layout) is None
    built = make_built(layout)
    assert kind.find_kind(layout) == built
    downloaded = fake_kind(kind.downloaded_kind(layout))
    assert kind.find_kind(layout) == downloaded


@pytest.mark.usefixtures("no_path_kind")
def test_a_cached_binary_means_no_download_and_no_build(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = make_built(layout)
    monkeypatch.setattr(kind, "download_kind", lambda *a, **k: pytest.fail("downloaded"))
    monkeypatch.setattr(build, "ensure_built", lambda *a, **k: pytest.fail("built"))
    assert kind.ensure_kind(layout, Progress(quiet=True)) == built


@pytest.mark.usefixtures("no_path_kind")
def test_nothing_cached_tries_the_download_first(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []

    def download(dest: Path, url: str, timeout: float = 3) -> bool:
        tried.append(url)
        fake_kind(dest)
        return True

    monkeypatch.setattr(kind, "download_kind", download)
    monkeypatch.setattr(build, "ensure_built", lambda *a, **k: pytest.fail("built"))
    monkeypatch.delenv("KIND_DOWNLOAD_URL", raising=False)
    assert kind.ensure_kind(layout, Progress(quiet=True)) == kind.downloaded_kind(layout)
    assert tried == [kind.kind_download_url()]


@pytest.mark.usefixtures("no_path_kind")
def test_no_download_builds_from_the_go_module_proxy(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind, "download_kind", lambda *a, **k: False)
    built: list[str] = []

    def ensure_built(b: build.GoBuild, lay: config.Layout, progress: Progress) -> build.Built:
        built.append(b.key)
        return build.Built(b, lay.bin / b.key, {"kind": lay.bin / b.key / "kind"})

    monkeypatch.setattr(build, "ensure_built", ensure_built)
    assert kind.ensure_kind(layout, Progress(quiet=True)) == kind.built_kind(layout)
    assert built == [f"kind-{config.KIND_VERSION}"]


def test_kind_is_built_from_its_pinned_module() -> None:
    b = build.kind_build()
    assert (b.module, b.version, b.binaries) == (
        "sigs.k8s.io/kind",
        config.KIND_VERSION,
        {"kind": "sigs.k8s.io/kind"},
    )


class FakeResponse:
    def __init__(self, body: bytes) -> None:
        self.body, self.text = body, body.decode(errors="replace")

    def raise_for_status(self) -> None:
        return None

    def iter_content(self, chunk_size: int):
        yield self.body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def fake_release(monkeypatch: pytest.MonkeyPatch, binary: bytes, sha: str) -> None:
    import requests

    def get(url: str, **_: object) -> FakeResponse:
        if url.endswith(".sha256sum"):
            return FakeResponse(f"{sha}  kind-linux-amd64\n".encode())
        return FakeResponse(binary)

    monkeypatch.setattr(requests, "get", get)


def test_download_keeps_a_release_whose_checksum_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = b"\x7fELF kind"
    fake_release(monkeypatch, binary, hashlib.sha256(binary).hexdigest())
    dest = tmp_path / "kind" / "kind-v0.32.0"
    assert kind.download_kind(dest, "https://example.invalid/kind") is True
    assert dest.read_bytes() == binary and dest.stat().st_mode & 0o111


def test_download_refuses_a_release_whose_checksum_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_release(monkeypatch, b"tampered", "0" * 64)
    dest = tmp_path / "kind-v0.32.0"
    assert kind.download_kind(dest, "https://example.invalid/kind") is False
    assert not dest.exists() and not dest.with_suffix(".tmp").exists()


def test_download_without_network_is_false_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    def refuse(url: str, **_: object) -> None:
        raise requests.ConnectionError("no route")

    monkeypatch.setattr(requests, "get", refuse)
    assert kind.download_kind(tmp_path / "kind", "https://example.invalid/kind") is False


@pytest.mark.usefixtures("no_path_kind")
def test_status_finds_the_kind_binary_in_the_cache(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = kind.built_kind(layout)
    fake_kind(built, clusters="sa-course\\n")
    (built.parent / build.STAMP).write_text("recipe\n")
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    st = kind.KindBackend(layout=layout).status()
    assert st["exists"] is True and st["kind"] == str(built)


@pytest.mark.usefixtures("no_path_kind")
def test_status_without_any_kind_binary_says_no_cluster(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind, "docker_available", lambda timeout=10: True)
    st = kind.KindBackend(layout=layout).status()
    assert st["exists"] is False and st["kind"] is None
