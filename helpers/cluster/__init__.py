"""The course cluster: one small API over three backends.

- ``local``: Kubernetes' own processes on this machine (no Docker); the default without Docker.
- ``kind``: a kind cluster through pytest-kind; the default where a Docker engine answers.
- ``kubeconfig``: an existing cluster from a kubeconfig (workshops, multi-node clusters).

Choose with ``COURSE_BACKEND=auto|local|kind|kubeconfig`` (default ``auto``). The chosen
backend is recorded, so notebooks, tests and ``down()`` find the cluster ``up()`` started;
the cluster outlives notebook kernels.

    >>> from helpers import cluster
    >>> cluster.BACKENDS
    ('local', 'kind', 'kubeconfig')
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from . import config
from .errors import ClusterError, ComponentFailed
from .progress import Progress

__all__ = [
    "BACKENDS",
    "ClusterError",
    "ComponentFailed",
    "control_plane_flags",
    "current",
    "down",
    "get_backend",
    "kubeconfig",
    "status",
    "up",
]

BACKENDS = ("local", "kind", "kubeconfig")


class Backend(Protocol):
    name: str

    @property
    def kubeconfig(self) -> Path: ...

    def up(self) -> Path: ...

    def down(self, quiet: bool = False) -> None: ...

    def status(self) -> object: ...


def choose_backend(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The backend to use and why: ``COURSE_BACKEND``, else kind if Docker answers, else local."""
    env = os.environ if env is None else env
    wanted = env.get("COURSE_BACKEND", "auto").strip().lower() or "auto"
    if wanted in BACKENDS:
        return wanted, "chosen with COURSE_BACKEND"
    if wanted != "auto":
        raise ClusterError(
            f"COURSE_BACKEND={wanted!r} is not a backend: "
            "set it to auto, local, kind or kubeconfig."
        )
    from .kind import docker_available

    if docker_available():
        return "kind", "a Docker engine answers; COURSE_BACKEND=local picks the local cluster"
    return "local", "no Docker engine answers; COURSE_BACKEND picks another backend"


def get_backend(name: str, progress: Progress | None = None) -> Backend:
    """An instance of backend ``name``."""
    if name == "local":
        from .local import LocalCluster

        return LocalCluster(progress=progress)
    if name == "kind":
        from .kind import KindBackend

        return KindBackend(progress=progress)
    if name == "kubeconfig":
        from .existing import KubeconfigBackend

        return KubeconfigBackend(progress=progress)
    raise ClusterError(f"Unknown backend {name!r}: use one of {', '.join(BACKENDS)}.")


def _current_file() -> Path:
    return config.cache_dir() / "current-cluster.json"


def current() -> dict[str, str] | None:
    """What ``up()`` recorded: ``{"backend": ..., "kubeconfig": ...}``, or None."""
    try:
        data = json.loads(_current_file().read_text())
    except (OSError, ValueError):
        return None
    if not Path(data.get("kubeconfig", "")).is_file():
        return None
    return data


def _recorded_or_chosen() -> str:
    if "COURSE_BACKEND" not in os.environ:
        recorded = current()
        if recorded:
            return recorded["backend"]
    return choose_backend()[0]


def up(progress: Progress | None = None) -> Path:
    """Start (or reuse) the course cluster; return the path of its kubeconfig."""
    progress = progress or Progress()
    name, why = choose_backend()
    progress.say(f"course cluster backend: {name} ({why})")
    backend = get_backend(name, progress)
    path = backend.up()
    _current_file().parent.mkdir(parents=True, exist_ok=True)
    _current_file().write_text(json.dumps({"backend": name, "kubeconfig": str(path)}))
    return path


def down(progress: Progress | None = None) -> None:
    """Stop the course cluster and remove what it left (the kubeconfig backend: nothing)."""
    backend = get_backend(_recorded_or_chosen(), progress)
    backend.down()
    _current_file().unlink(missing_ok=True)


def status() -> object:
    """The status of the recorded (or chosen) backend's cluster."""
    return get_backend(_recorded_or_chosen()).status()


def kubeconfig() -> Path:
    """The kubeconfig of the running course cluster; a ClusterError if none is running."""
    recorded = current()
    if recorded:
        return Path(recorded["kubeconfig"])
    raise ClusterError(
        "No course cluster is running: start one with `make cluster-up` (or `make lab`)."
    )


#: Flags that decide how ServiceAccount tokens are issued, signed and checked.
SA_FLAG_PREFIXES = ("--service-account-", "--api-audiences", "--root-ca-file")


def control_plane_flags(prefixes: tuple[str, ...] = SA_FLAG_PREFIXES) -> dict[str, list[str]]:
    """The ServiceAccount flags of kube-apiserver and kube-controller-manager, as running.

    Read from the processes' command lines (local backend) or from the static Pod
    manifests inside the kind node (kind backend). An existing cluster's control plane
    is usually out of reach: then the dict is empty.
    """
    recorded = current() or {}
    backend = recorded.get("backend") or _recorded_or_chosen()
    argv: dict[str, list[str]] = {}
    if backend == "local":
        from .local import LocalCluster

        sup = LocalCluster(progress=Progress(quiet=True)).sup
        for name in ("kube-apiserver", "kube-controller-manager"):
            pid = sup.pid(name)
            if pid:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                argv[name] = [a.decode() for a in raw.split(b"\0") if a]
    elif backend == "kind":
        from .kind import node_command_lines

        argv = node_command_lines()
    return {name: [a for a in args if a.startswith(prefixes)] for name, args in argv.items()}
