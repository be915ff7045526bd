"""Container images without a registry: pause from Kubernetes' source, busybox from Debian.

Each image is a one-layer ``docker-archive`` tarball (``manifest.json``, a config blob and
an uncompressed layer), the format ``ctr images import`` reads. Layers are written with
fixed timestamps and owners, so the same inputs give byte-identical images.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import config
from .errors import ClusterError
from .progress import Progress

#: Applets linked into the busybox image (the commands the course runs in Pods).
BUSYBOX_APPLETS = (
    "sh",
    "ash",
    "cat",
    "ls",
    "stat",
    "sleep",
    "id",
    "env",
    "echo",
    "head",
    "tail",
    "wc",
    "date",
    "readlink",
    "find",
    "grep",
    "base64",
    "cut",
    "tr",
    "mount",
    "df",
    "ps",
    "hostname",
    "wget",
    "true",
    "false",
    "test",
    "[",
    "printf",
    "sed",
    "awk",
    "od",
    "xxd",
    "uname",
    # the Service network: DNS, TCP and TLS from inside a Pod
    "nslookup",
    "nc",
    "ssl_client",
    "timeout",
)
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of an image layer."""

    path: str
    kind: str = "file"  # file | dir | symlink
    data: bytes = b""
    mode: int = 0o644
    target: str = ""


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed, reproducible layer tarball holding ``entries``.

    >>> blob = layer_tar([Entry("etc", "dir", mode=0o755), Entry("etc/hostname", data=b"x")])
    >>> sorted(tarfile.open(fileobj=io.BytesIO(blob)).getnames())
    ['etc', 'etc/hostname']
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.mtime, info.uid, info.gid, info.mode = 0, 0, 0, e.mode
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.target, 0o777
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def docker_archive(tag: str, layer: bytes, image_config: dict) -> bytes:
    """A docker-archive tarball (what ``docker save`` writes) for a one-layer image.

    ``image_config`` is the ``config`` part of the image (Entrypoint, Cmd, Env, User).
    """
    layer_digest = hashlib.sha256(layer).hexdigest()
    blob = {
        "architecture": "amd64",
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "sa-course helpers.cluster.images"}],
    }
    config_bytes = json.dumps(blob, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer_digest}/layer.tar"]}]
    return layer_tar(
        [
            Entry(f"{layer_digest}", "dir", mode=0o755),
            Entry(f"{layer_digest}/layer.tar", data=layer),
            Entry(config_name, data=config_bytes),
            Entry("manifest.json", data=json.dumps(manifest).encode()),
        ]
    )


def busybox_entries(busybox: bytes, applets: Iterable[str] = BUSYBOX_APPLETS) -> list[Entry]:
    """A minimal root filesystem around a static busybox binary, one symlink per applet."""
    entries = [Entry(d, "dir", mode=0o755) for d in ("bin", "etc", "usr", "usr/bin", "var")]
    entries += [Entry("tmp", "dir", mode=0o1777), Entry("root", "dir", mode=0o700)]
    entries.append(Entry("bin/busybox", data=busybox, mode=0o755))
    entries += [
        Entry(f"bin/{a}", "symlink", target="busybox")
        for a in sorted(set(applets))
        if a != "busybox" and "/" not in a
    ]
    entries.append(
        Entry(
            "etc/passwd",
            data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
    )
    entries.append(Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"))
    return entries


def busybox_archive(
    busybox: bytes, applets: Iterable[str] = BUSYBOX_APPLETS, tag: str = config.BUSYBOX_IMAGE
) -> bytes:
    """The course's busybox image as a docker-archive."""
    image_config = {"Cmd": ["sh"], "Env": [PATH_ENV]}
    return docker_archive(tag, layer_tar(busybox_entries(busybox, applets)), image_config)


def pause_archive(pause: bytes, tag: str | None = None) -> bytes:
    """The sandbox image: just /pause, run as 65535 like the upstream image."""
    layer = layer_tar([Entry("pause", data=pause, mode=0o755)])
    config_ = {"Entrypoint": ["/pause"], "User": "65535:65535"}
    return docker_archive(tag or config.PAUSE_IMAGE, layer, config_)


# -- building the two images -------------------------------------------------------------


def compile_pause(source: Path, out: Path) -> None:
    """Compile Kubernetes' pause.c as upstream does: static, -Os, then strip."""
    if not shutil.which("gcc"):
        raise ClusterError(
            "gcc is not installed, and the local cluster compiles its pause image from "
            "Kubernetes' pause.c: install gcc (apt-get install gcc libc6-dev) and retry."
        )
    cmd = [
        "gcc",
        "-Os",
        "-Wall",
        "-Werror",
        "-static",
        "-DVERSION=v3.10.1-sa-course",
        "-o",
        str(out),
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise ClusterError(
            f"Compiling the pause image failed ({proc.stderr.strip()[-300:]}); "
            "install the static C library (apt-get install libc6-dev) and retry."
        )
    subprocess.run(["strip", str(out)], check=False, timeout=60)


def pause_source(layout: config.Layout) -> Path:
    """build/pause/linux/pause.c inside the downloaded k8s.io/kubernetes module."""
    path = (
        layout.gomodcache
        / f"k8s.io/kubernetes@v{config.KUBERNETES_VERSION}"
        / "build"
        / "pause"
        / "linux"
        / "pause.c"
    )
    if not path.is_file():
        raise ClusterError(
            f"Kubernetes' pause.c is missing from the module cache ({path}): run "
            "`make cluster-up` again so the Kubernetes module is downloaded first."
        )
    return path


def find_busybox() -> Path:
    """The static busybox binary from Debian's busybox-static package."""
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file():
            return candidate
    raise ClusterError(
        "busybox is not installed, and the course's Pods run a busybox image built from it: "
        "install it (apt-get install busybox-static) and retry."
    )


def ensure_images(layout: config.Layout, progress: Progress) -> dict[str, Path]:
    """Build the pause and busybox image archives unless cached; tag -> archive path."""
    layout.images.mkdir(parents=True, exist_ok=True)
    pause_tar = layout.images / f"pause-{config.PAUSE_IMAGE.rsplit(':', 1)[1]}.tar"
    busybox_tar = layout.images / "busybox.tar"
    if not pause_tar.is_file():
        with progress.stage(f"building the sandbox image {config.PAUSE_IMAGE} from pause.c"):
            binary = layout.images / "pause"
            compile_pause(pause_source(layout), binary)
            _write_atomic(pause_tar, pause_archive(binary.read_bytes()))
    if not busybox_tar.is_file():
        with progress.stage(f"building the image {config.BUSYBOX_IMAGE} from Debian's busybox"):
            binary = find_busybox()
            applets = subprocess.run(
                [str(binary), "--list"], capture_output=True, text=True, check=True, timeout=60
            ).stdout.split()
            _write_atomic(busybox_tar, busybox_archive(binary.read_bytes(), applets))
    return {config.PAUSE_IMAGE: pause_tar, config.BUSYBOX_IMAGE: busybox_tar}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# -- large images: layers streamed from and to files (the kind node image) ---------------


@dataclass(frozen=True)
class HostFile:
    """A file of an image layer whose content is read from ``source`` when it is written."""

    path: str
    source: Path
    mode: int = 0o755


def write_layer(out: Path, entries: Iterable[Entry | HostFile]) -> None:
    """Write a reproducible, uncompressed layer tarball to ``out``, streaming host files.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "f").write_bytes(b"hi")
    2
    >>> write_layer(d / "l.tar", [Entry("usr", "dir", mode=0o755), HostFile("usr/f", d / "f")])
    >>> [(m.name, m.size) for m in tarfile.open(d / "l.tar")]
    [('usr', 0), ('usr/f', 2)]
    """
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            if isinstance(e, HostFile):
                info = tarfile.TarInfo(e.path)
                info.mtime, info.uid, info.gid, info.mode = 0, 0, 0, e.mode
                info.size = e.source.stat().st_size
                with e.source.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(*_entry_member(e))


def _entry_member(e: Entry) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(e.path)
    info.mtime, info.uid, info.gid, info.mode = 0, 0, 0, e.mode
    if e.kind == "dir":
        info.type = tarfile.DIRTYPE
        return info, None
    if e.kind == "symlink":
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.target, 0o777
        return info, None
    info.size = len(e.data)
    return info, io.BytesIO(e.data)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, hex, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_architecture() -> str:
    """This machine's architecture as image configs name it (amd64, arm64)."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def write_docker_archive(
    out: Path, tags: list[str], layers: list[Path], image_config: dict
) -> None:
    """Write a docker-archive of ``layers`` (layer tarballs on disk, bottom first) to ``out``.

    The same layers, tags and config always give the same bytes. ``image_config`` is the
    ``config`` part of the image (Entrypoint, Cmd, Env, StopSignal, …).
    """
    digests = [file_sha256(layer) for layer in layers]
    blob = {
        "architecture": image_architecture(),
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]},
        "history": [{"created_by": "sa-course helpers.cluster.images"} for _ in layers],
    }
    config_bytes = json.dumps(blob, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [
        {"Config": config_name, "RepoTags": tags, "Layers": [f"{d}/layer.tar" for d in digests]}
    ]
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for digest, layer in zip(digests, layers, strict=True):
            tar.addfile(*_entry_member(Entry(digest, "dir", mode=0o755)))
            info = tarfile.TarInfo(f"{digest}/layer.tar")
            info.mtime, info.mode, info.size = 0, 0o644, layer.stat().st_size
            with layer.open("rb") as fh:
                tar.addfile(info, fh)
        tar.addfile(*_entry_member(Entry(config_name, data=config_bytes)))
        tar.addfile(*_entry_member(Entry("manifest.json", data=json.dumps(manifest).encode())))
    tmp.replace(out)
