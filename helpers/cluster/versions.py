"""Which Kubernetes the course's own clusters run: every minor it supports, on demand.

The course runs on Kubernetes 1.33 and newer. Its own clusters (local, and kind's offline
node image) are built at the newest patch of each supported minor that the Go module
proxy serves, with the etcd, CoreDNS and pause versions that release's kubeadm pins
(``cmd/kubeadm/app/constants/constants.go``: ``DefaultEtcdVersion``, ``CoreDNSVersion``,
``PauseVersion``) — checked against the module itself when it is built
(:func:`kubeadm_pins`). ``COURSE_K8S_VERSION`` picks one: a minor (``1.34``) or a full patch
(``1.34.2``, if the proxy serves it); unset, the newest.

    >>> resolve("1.34").kubernetes, resolve("v1.37").pause_image
    ('1.34.4', 'registry.k8s.io/pause:3.10.2')
    >>> resolve("").kubernetes == RELEASES[NEWEST].kubernetes
    True
    >>> resolve("1.32")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    helpers.cluster.errors.ClusterError: COURSE_K8S_VERSION=1.32 is not one the course runs: ...
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ClusterError
from .settings import VERSION_ENV, settings

__all__ = [
    "CONTAINERD",
    "CRICTL",
    "ENV",
    "FLOOR",
    "KIND",
    "NEWEST",
    "RELEASES",
    "Release",
    "kubeadm_pins",
    "resolve",
    "supported",
]

ENV = VERSION_ENV
#: The oldest minor the course supports (tokens bound to a Node, the newest feature it
#: shows on every version, are beta and on by default from 1.30; 1.33 is the oldest
#: release still served by its providers when this was written).
FLOOR = (1, 33)
#: containerd 2.3 (LTS): containerd's RELEASES.md lists it for Kubernetes 1.33 to 1.36, and
#: kind v0.33.0 runs it for 1.37. One containerd for every version.
CONTAINERD = "2.3.7"
#: crictl for the kind node image (``kind load`` uses it): the newest the proxy serves.
CRICTL = "v1.37.0"
#: kind whose default node image is 1.37 (``pkg/apis/config/defaults/image.go``).
KIND = "v0.33.0"


@dataclass(frozen=True)
class Release:
    """One Kubernetes release and the component versions its kubeadm pins."""

    kubernetes: str
    etcd: str
    coredns: str
    pause: str
    #: kind's official node image for it, pinned by digest ('' : the course assembles one).
    kind_node_image: str = ""

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes.split(".")[:2])

    @property
    def minor_tuple(self) -> tuple[int, int]:
        major, minor = self.kubernetes.split(".")[:2]
        return int(major), int(minor)

    @property
    def pause_image(self) -> str:
        return f"registry.k8s.io/pause:{self.pause}"


#: The newest patch of each supported minor the Go module proxy served on 2026-12-02, with
#: its kubeadm's pins. kind v0.33.0's default node image is v1.37.0 (its only 1.37 image).
RELEASES: dict[str, Release] = {
    "1.33": Release("1.33.13", etcd="3.5.24", coredns="v1.12.0", pause="3.10"),
    "1.34": Release("1.34.4", etcd="3.6.5", coredns="v1.12.1", pause="3.10.1"),
    "1.35": Release("1.35.4", etcd="3.6.6", coredns="v1.13.1", pause="3.10.1"),
    "1.36": Release("1.36.3", etcd="3.6.8", coredns="v1.14.2", pause="3.10.2"),
    "1.37": Release(
        "1.37.2",
        etcd="3.7.0",
        coredns="v1.14.6",
        pause="3.10.2",
        kind_node_image=(
            "kindest/node:v1.37.0"
            "@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
        ),
    ),
}
NEWEST = "1.37"

_SPEC = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def supported() -> str:
    """The supported versions, in one phrase."""
    patches = ", ".join(r.kubernetes for r in RELEASES.values())
    first, last = next(iter(RELEASES)), NEWEST
    return (
        f"Kubernetes {first} to {last} ({patches}, or another patch of these that the Go "
        "module proxy serves)"
    )


def _refuse(spec: str, why: str) -> ClusterError:
    return ClusterError(f"{ENV}={spec} is not one the course runs: {why}; it runs {supported()}.")


def resolve(spec: str | None = None, gomodcache: Path | None = None) -> Release:
    """The release ``spec`` names (default: ``COURSE_K8S_VERSION``, else the newest).

    A patch outside the table is looked up on the Go module proxy, with ``gomodcache`` as
    the module cache (the course's build cache).
    """
    text = (settings().kubernetes if spec is None else spec).strip()
    return _resolve(text, gomodcache)


@cache
def _resolve(text: str, gomodcache: Path | None) -> Release:
    if not text:
        return RELEASES[NEWEST]
    match = _SPEC.fullmatch(text)
    if not match:
        return _raise(
            _refuse(text, "give a minor such as 1.34 or a patch such as 1.34.4 (no pre-releases)")
        )
    minor = f"{match.group(1)}.{match.group(2)}"
    if (int(match.group(1)), int(match.group(2))) < FLOOR:
        return _raise(_refuse(text, f"{minor} is older than the course's floor"))
    if minor not in RELEASES:
        return _raise(_refuse(text, f"{minor} is newer than the course knows"))
    known = RELEASES[minor]
    if match.group(3) is None or f"{minor}.{match.group(3)}" == known.kubernetes:
        return known
    patch = f"{minor}.{match.group(3)}"
    if patch not in served_patches(minor, gomodcache):
        return _raise(
            _refuse(text, f"the Go module proxy does not serve k8s.io/kubernetes v{patch}")
        )
    etcd, coredns, pause = kubeadm_pins(patch, gomodcache)
    return Release(patch, etcd=etcd, coredns=coredns, pause=pause)


def _raise(exc: Exception) -> Release:
    raise exc


def _go_env(gomodcache: Path | None) -> dict[str, str]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    if gomodcache is not None:
        env["GOMODCACHE"] = str(gomodcache)
    return env


def served_patches(minor: str, gomodcache: Path | None = None, timeout: float = 120) -> list[str]:
    """Every released patch of ``minor`` the Go module proxy serves (asks it: needs the network)."""
    try:
        out = subprocess.run(
            ["go", "list", "-m", "-versions", "k8s.io/kubernetes"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_go_env(gomodcache),
            cwd="/",
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterError(
            f"Asking the Go module proxy which Kubernetes {minor} patches it serves failed "
            f"({type(exc).__name__}): check your network, or give just the minor ({minor})."
        ) from None
    return [v.lstrip("v") for v in out.split()[1:] if re.fullmatch(rf"v{re.escape(minor)}\.\d+", v)]


_PIN = {
    "etcd": re.compile(r'DefaultEtcdVersion\s*=\s*"([^"-]+)(?:-\d+)?"'),
    "coredns": re.compile(r'CoreDNSVersion\s*=\s*"([^"]+)"'),
    "pause": re.compile(r'PauseVersion\s*=\s*"([^"]+)"'),
}


def pins_from_constants(text: str) -> tuple[str, str, str]:
    """(etcd, CoreDNS, pause) from kubeadm's constants.go.

    >>> pins_from_constants('DefaultEtcdVersion = "3.7.0-0"\\nCoreDNSVersion = "v1.14.6"\\n'
    ...                     'PauseVersion = "3.10.2"')
    ('3.7.0', 'v1.14.6', '3.10.2')
    """
    found = {k: rx.search(text) for k, rx in _PIN.items()}
    missing = [k for k, m in found.items() if not m]
    if missing:
        raise ClusterError(
            f"kubeadm's constants no longer name the {', '.join(missing)} version: the course's "
            "version table needs updating (helpers/cluster/versions.py)."
        )
    return found["etcd"].group(1), found["coredns"].group(1), found["pause"].group(1)  # type: ignore[union-attr]


def kubeadm_pins(
    kubernetes: str, gomodcache: Path | None = None, timeout: float = 600
) -> tuple[str, str, str]:
    """(etcd, CoreDNS, pause) as Kubernetes ``kubernetes``'s own kubeadm pins them.

    Downloads the module (cached with the builds) if it is not there yet.
    """
    try:
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{kubernetes}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_go_env(gomodcache),
            cwd="/",
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterError(
            f"Downloading k8s.io/kubernetes v{kubernetes} from the Go module proxy failed "
            f"({type(exc).__name__}): check your network and try again."
        ) from None
    module = Path(json.loads(out)["Dir"])
    return pins_from_constants((module / "cmd/kubeadm/app/constants/constants.go").read_text())
