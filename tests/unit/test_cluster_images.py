"""Images without a registry: reproducible docker-archive tarballs ctr can import."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from helpers.cluster import config, images


def _members(blob: bytes) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for m in tarfile.open(fileobj=io.BytesIO(blob)).getmembers()}


def _read(blob: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_layers_are_reproducible() -> None:
    entries = [images.Entry("bin", "dir", mode=0o755), images.Entry("bin/x", data=b"1", mode=0o755)]
    assert images.layer_tar(entries) == images.layer_tar(entries)
    info = _members(images.layer_tar(entries))["bin/x"]
    assert (info.mtime, info.uid, info.gid, info.mode) == (0, 0, 0, 0o755)


def test_docker_archive_manifest_points_at_config_and_layer() -> None:
    layer = images.layer_tar([images.Entry("hello", data=b"hi")])
    blob = images.docker_archive("docker.io/library/demo:1", layer, {"Cmd": ["sh"]})
    manifest = json.loads(_read(blob, "manifest.json"))
    assert manifest[0]["RepoTags"] == ["docker.io/library/demo:1"]
    cfg = json.loads(_read(blob, manifest[0]["Config"]))
    assert cfg["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert _read(blob, manifest[0]["Layers"][0]) == layer
    assert cfg["config"] == {"Cmd": ["sh"]}


def test_busybox_image_links_applets_and_has_users() -> None:
    blob = images.busybox_archive(b"\x7fELF fake", applets=["sh", "cat", "stat", "busybox"])
    manifest = json.loads(_read(blob, "manifest.json"))
    layer = _read(blob, manifest[0]["Layers"][0])
    members = _members(layer)
    assert members["bin/stat"].issym() and members["bin/stat"].linkname == "busybox"
    assert "bin/busybox" in members and not members["bin/busybox"].issym()
    assert "root:x:0:0" in _read(layer, "etc/passwd").decode()
    assert manifest[0]["RepoTags"] == [config.BUSYBOX_IMAGE]


def test_pause_image_runs_as_65535_like_upstream() -> None:
    blob = images.pause_archive(b"\x7fELF fake")
    manifest = json.loads(_read(blob, "manifest.json"))
    cfg = json.loads(_read(blob, manifest[0]["Config"]))
    assert cfg["config"] == {"Entrypoint": ["/pause"], "User": "65535:65535"}
    assert manifest[0]["RepoTags"] == [config.PAUSE_IMAGE]
