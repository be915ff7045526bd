"""The tools image: Debian's curl and jq, the course's kubectl, under the course's own name."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from helpers.cluster import build, config, images, toolsimage
from helpers.cluster.images import Entry
from helpers.cluster.progress import Progress


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Layout:
    lay = config.Layout(cache=tmp_path, state=tmp_path / "state")
    lay.images.mkdir(parents=True)
    kubectl = tmp_path / "kubectl"
    kubectl.write_bytes(b"kubectl binary")
    rootfs = tmp_path / "rootfs.tar"
    images.write_layer(rootfs, [Entry("usr", "dir", mode=0o755)])
    built = build.Built(build.kubernetes_build(), tmp_path, {"kubectl": kubectl})
    monkeypatch.setattr(build, "ensure_built", lambda b, lay, p: built)
    monkeypatch.setattr(build, "recipe_stamp", lambda b, lay: "stamp-1")
    monkeypatch.setattr(toolsimage, "ensure_rootfs", lambda *a: rootfs)
    return lay


def test_the_image_holds_kubectl_under_the_course_name(layout: config.Layout) -> None:
    out = toolsimage.ensure_tools_image(layout, Progress(quiet=True))
    with tarfile.open(out) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        with tarfile.open(fileobj=tar.extractfile(entry["Layers"][1])) as layer:
            assert layer.extractfile("usr/local/bin/kubectl").read() == b"kubectl binary"
    assert entry["RepoTags"] == [config.TOOLS_IMAGE]
    assert config.TOOLS_IMAGE.startswith("localhost/sa-course/"), "never an upstream name"


def test_a_built_image_is_reused_and_a_new_recipe_replaces_it(
    layout: config.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = toolsimage.ensure_tools_image(layout, Progress(quiet=True))
    assert toolsimage.ensure_tools_image(layout, Progress(quiet=True)) == first
    monkeypatch.setattr(build, "recipe_stamp", lambda b, lay: "stamp-2")  # a new kubectl
    second = toolsimage.ensure_tools_image(layout, Progress(quiet=True))
    assert second != first and second.is_file() and not first.exists()
