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
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from . import config
from .errors import ClusterError, ComponentFailed
from .podnetwork import pod_network
from .progress import Progress
from .settings import settings as _settings

__all__ = [
    "BACKENDS",
    "ClusterError",
    "ComponentFailed",
    "control_plane_flags",
    "current",
    "down",
    "get_backend",
    "kubeconfig",
    "load_images",
    "pod_network",
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
    wanted = _settings(env).backend
    if wanted in BACKENDS:
        return wanted, "chosen with COURSE_BACKEND"
    if wanted is not None:
        raise ClusterError(
            f"COURSE_BACKEND={wanted!r} is not a backend: "
            "set it to auto, local, kind or kubeconfig."
        )
    from .kind import docker_available, test_only_docker

    if docker_available():
        if test_only_docker():
            return "local", (
                "the only Docker engine here is the one `make test` started for its kind "
                "tests; COURSE_BACKEND=kind picks kind"
            )
        return "kind", "a Docker engine answers; COURSE_BACKEND=local picks the local cluster"
    return "local", "no Docker engine answers; COURSE_BACKEND picks another backend"


def load_images(backend: str, archives: dict[str, Path], progress: Progress | None = None) -> None:
    """Put images (tag -> docker-archive) into ``backend``'s running cluster, without a registry.

    The local cluster imports them into its containerd, kind loads them into its node
    (``kind load image-archive``). An existing cluster pulls from a registry: a
    ClusterError says so.
    """
    if backend == "local":
        from .local import LocalCluster

        LocalCluster(progress=progress).load_images(archives)
        return
    if backend == "kind":
        from .kind import KindBackend

        KindBackend(progress=progress).load_images(archives)
        return
    raise ClusterError(
        f"The course cannot put its images into the {backend} backend's cluster: push them to "
        "a registry its nodes pull from (the README's workshop section says how)."
    )


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


def _records_dir() -> Path:
    return config.cache_dir() / "clusters"


def _record_file(backend: str) -> Path:
    return _records_dir() / f"{backend}.json"


def _current_file() -> Path:
    """Which backend ``up()`` started last: the one notebooks use when none is asked for."""
    return config.cache_dir() / "current-cluster.json"


def wanted_backend(env: Mapping[str, str] | None = None) -> str | None:
    """The backend ``COURSE_BACKEND`` names explicitly, or None for ``auto`` / unset."""
    return None if _settings(env).backend is None else choose_backend(env)[0]


def current(backend: str | None = None) -> dict[str, str] | None:
    """What ``up()`` recorded: ``{"backend": ..., "kubeconfig": ...}``, or None.

    ``backend`` (default: the one ``COURSE_BACKEND`` names, else the last one started)
    picks the record, so a local and a kind cluster can run side by side. The kubeconfig
    backend records nothing: its kubeconfig is always the one the environment names.
    """
    backend = backend or wanted_backend()
    if backend == "kubeconfig":
        from .existing import kubeconfig_path

        path = kubeconfig_path()
        return {"backend": "kubeconfig", "kubeconfig": str(path)} if path.is_file() else None
    try:
        if backend is None:
            backend = json.loads(_current_file().read_text())["backend"]
        data = json.loads(_record_file(str(backend)).read_text())
    except (OSError, ValueError, KeyError):
        return None
    if not Path(data.get("kubeconfig", "")).is_file():
        return None
    return data


def _record(name: str, path: Path) -> None:
    _records_dir().mkdir(parents=True, exist_ok=True)
    _record_file(name).write_text(json.dumps({"backend": name, "kubeconfig": str(path)}))
    _current_file().write_text(json.dumps({"backend": name}))


def _forget(name: str) -> None:
    _record_file(name).unlink(missing_ok=True)
    try:
        if json.loads(_current_file().read_text()).get("backend") == name:
            _current_file().unlink()
    except (OSError, ValueError):
        pass


def _recorded_or_chosen() -> str:
    wanted = wanted_backend()
    if wanted:
        return wanted
    recorded = current()
    return recorded["backend"] if recorded else choose_backend()[0]


def answers(api: object) -> bool:
    """True if the API server behind ``api`` (a kubernetes ApiClient) answers within 5 s."""
    from kubernetes import client

    try:
        client.VersionApi(api).get_code(_request_timeout=5)
        return True
    except Exception:
        return False


def up(progress: Progress | None = None, backend: str | None = None) -> Path:
    """Start (or reuse) the course cluster; return the path of its kubeconfig.

    ``backend`` (e.g. the one a notebook was using) overrides the choice of
    ``COURSE_BACKEND`` / auto.
    """
    progress = progress or Progress()
    name, why = (backend, "the course cluster in use") if backend else choose_backend()
    progress.say(f"course cluster backend: {name} ({why})")
    backend = get_backend(name, progress)
    path = backend.up()
    if name != "kubeconfig":
        _record(name, path)
    return path


def down(progress: Progress | None = None, backend: str | None = None) -> None:
    """Stop the course cluster (``backend``'s, else the recorded one) and remove what it
    left (the kubeconfig backend: nothing)."""
    name = backend or _recorded_or_chosen()
    get_backend(name, progress).down()
    _forget(name)


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


def control_plane_flags(prefixes: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """The ServiceAccount flags of kube-apiserver and kube-controller-manager, as running.

    Empty where the control plane cannot be seen (an existing cluster): see
    :func:`helpers.cluster.controlplane.control_plane`.
    """
    from .controlplane import SA_FLAG_PREFIXES, control_plane

    return control_plane(_recorded_or_chosen()).flags(prefixes or SA_FLAG_PREFIXES)
