"""Debian root filesystems for the course's own images, made with mmdebstrap, cached.

The offline kind node image, its kube-proxy image and the course's tools image all start
from a Debian bookworm root filesystem. mmdebstrap makes one in seconds from Debian's
mirror (no registry, no Docker); the tarball is cached under ``<cache>/rootfs`` by its
whole command line, so the same packages and hooks are never fetched twice.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from . import config
from .errors import ClusterError
from .progress import Progress

__all__ = ["DEBIAN_SUITE", "DPKG_EXCLUDES", "ensure_rootfs", "mmdebstrap_command", "rootfs_key"]

#: bookworm's systemd 252 boots on cgroup v1 hosts; systemd >= 256 refuses to.
DEBIAN_SUITE = "bookworm"
#: What no image of the course needs: manual pages, documentation, translations.
DPKG_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*")


def mmdebstrap_command(
    out: Path, variant: str, packages: Iterable[str], hooks: Iterable[str]
) -> list[str]:
    """The mmdebstrap command line for a bookworm root filesystem tarball.

    >>> mmdebstrap_command(Path("r.tar"), "minbase", ["curl"], [])[:3]
    ['mmdebstrap', '--variant=minbase', '--include=curl']
    """
    cmd = ["mmdebstrap", f"--variant={variant}", f"--include={','.join(packages)}"]
    cmd += [f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES]
    # the extract variant runs no customize hooks: its files are all there after extraction
    phase = "extract" if variant == "extract" else "customize"
    cmd += [f"--{phase}-hook={h}" for h in hooks]
    cmd += [DEBIAN_SUITE, str(out)]
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file() and DEBIAN_SUITE in sources.read_text():
        cmd.append(str(sources))  # this machine's own Debian mirror and its security updates
    return cmd


def rootfs_key(packages: Iterable[str], variant: str, hooks: Iterable[str]) -> str:
    """Cache key of a Debian root filesystem: its whole mmdebstrap command line."""
    cmd = mmdebstrap_command(Path("rootfs.tar"), variant, packages, hooks)
    return hashlib.sha256(json.dumps(cmd).encode()).hexdigest()[:12]


def rootfs_dir(layout: config.Layout) -> Path:
    """Where the root filesystem tarballs are cached."""
    return layout.cache / "rootfs"


def run_logged(argv: list[str], log: Path, error: str, timeout: float = 1800) -> None:
    """Run ``argv`` with its output in ``log``; a ClusterError saying ``error`` if it fails."""
    with log.open("w") as fh:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=timeout,
        )
    if proc.returncode != 0:
        raise ClusterError(error)


def ensure_rootfs(
    layout: config.Layout,
    name: str,
    variant: str,
    packages: Iterable[str],
    hooks: Iterable[str],
    progress: Progress,
) -> Path:
    """A Debian root filesystem tarball from mmdebstrap, cached by what goes into it."""
    packages, hooks = tuple(packages), tuple(hooks)
    out = rootfs_dir(layout) / f"{name}-{rootfs_key(packages, variant, hooks)}.tar"
    if out.is_file():
        return out
    if not shutil.which("mmdebstrap"):
        raise ClusterError(
            f"mmdebstrap is not installed, and the course's {name} image is made from a Debian "
            "root filesystem it makes: install it (apt-get install mmdebstrap) and retry."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    log = rootfs_dir(layout) / f"mmdebstrap-{name}.log"
    tmp = out.with_name(out.stem + ".partial.tar")
    with progress.stage(f"making the {name} root filesystem (Debian {DEBIAN_SUITE}, mmdebstrap)"):
        run_logged(
            mmdebstrap_command(tmp, variant, packages, hooks),
            log,
            f"mmdebstrap could not make the {name} root filesystem (log: {log}): check your "
            "network access to Debian's package mirror and retry.",
        )
        tmp.replace(out)
    for old in rootfs_dir(layout).glob(f"{name}-*.tar"):  # an earlier recipe's
        if old != out and not old.name.endswith(".partial.tar"):
            old.unlink()
    return out
