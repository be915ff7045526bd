"""The course's settings: every environment variable it reads, parsed in this one place.

:func:`settings` parses the environment into a :class:`Settings` (each spelling of a value
the same way: ``COURSE_BACKEND=" Kubeconfig "`` is the kubeconfig backend everywhere), and
applies what a caller chose in code — ``connect(backend=…, kubeconfig=…, prefix=…)`` calls
:func:`choose`, a bench uses :func:`chosen` for a while — so nothing in the course writes
``os.environ`` to steer itself. The environment is read on every call (it is cheap), so a
test that sets a variable sees it at once.

>>> Settings.from_env({"COURSE_BACKEND": " Kubeconfig ", "COURSE_PREFIX": " ws1-07 "}).backend
'kubeconfig'
>>> Settings.from_env({"COURSE_BACKEND": "AUTO"}).backend is None
True
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import ClusterError

__all__ = [
    "BACKEND_ENV",
    "KUBECONFIG_ENV",
    "LAN_ENV",
    "PREFIX_ENV",
    "VERSION_ENV",
    "Settings",
    "choose",
    "chosen",
    "settings",
]

BACKEND_ENV = "COURSE_BACKEND"
KUBECONFIG_ENV = "COURSE_KUBECONFIG"
PREFIX_ENV = "COURSE_PREFIX"
VERSION_ENV = "COURSE_K8S_VERSION"
LAN_ENV = "COURSE_LAN_ADDRESS"


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


@dataclass(frozen=True)
class Settings:
    """What the environment (and a caller's choices) ask of the course."""

    #: ``local``, ``kind``, ``kubeconfig`` or another word (refused where it is used);
    #: None for ``auto`` or unset.
    backend: str | None = None
    #: ``COURSE_KUBECONFIG``, else the first file of ``KUBECONFIG``, else ~/.kube/config.
    kubeconfig: Path = Path("~/.kube/config")
    #: ``COURSE_PREFIX`` (None: take the workshop kubeconfig's; '' : no prefix).
    prefix: str | None = None
    #: Builds, cached outside the repository (``COURSE_CACHE_DIR``).
    cache_dir: Path = Path("~/.cache/sa-course")
    #: A running local cluster's keys, data and logs (``COURSE_STATE_DIR``).
    state_dir: Path = Path("/var/lib/sa-course")
    #: ``COURSE_LAN_ADDRESS``, unchecked ('' : loopback only).
    lan_address: str = ""
    #: ``COURSE_K8S_VERSION``: a minor, a patch, or '' for the newest.
    kubernetes: str = ""
    #: ``COURSE_API_PORT`` (None: 6443).
    api_port: int | None = None
    #: ``COURSE_KUBE_PROXY_MODE``: nftables, iptables or '' (the kernel decides).
    kube_proxy_mode: str = ""
    #: ``KIND_DOWNLOAD_URL`` ('' : kind's release page).
    kind_download_url: str = ""
    #: ``COURSE_WORKSHOP``: the workshop's name, the first part of every learner's prefix.
    workshop: str = "ws1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse ``env`` (default: this process's environment)."""
        env = os.environ if env is None else env
        backend = _text(env, BACKEND_ENV).lower()
        kubeconfig = _text(env, KUBECONFIG_ENV) or _text(env, "KUBECONFIG").split(os.pathsep)[0]
        prefix = env.get(PREFIX_ENV)
        port = _text(env, "COURSE_API_PORT")
        if port and not port.isdigit():
            raise ClusterError(
                f"COURSE_API_PORT={port!r} is not a port number: give one such as 6443, "
                "or unset it."
            )
        return cls(
            backend=None if backend in ("", "auto") else backend,
            kubeconfig=Path(kubeconfig or "~/.kube/config").expanduser(),
            prefix=None if prefix is None else prefix.strip(),
            cache_dir=Path(_text(env, "COURSE_CACHE_DIR") or "~/.cache/sa-course").expanduser(),
            state_dir=Path(_text(env, "COURSE_STATE_DIR") or "/var/lib/sa-course").expanduser(),
            lan_address=_text(env, LAN_ENV),
            kubernetes=_text(env, VERSION_ENV),
            api_port=int(port) if port else None,
            kube_proxy_mode=_text(env, "COURSE_KUBE_PROXY_MODE").lower(),
            kind_download_url=_text(env, "KIND_DOWNLOAD_URL"),
            workshop=_text(env, "COURSE_WORKSHOP") or "ws1",
        )


_FIELDS = frozenset(f.name for f in fields(Settings))
#: What callers chose in code; it wins over the environment.
_chosen: dict[str, object] = {}


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings now: the environment parsed, with what callers chose applied."""
    return replace(Settings.from_env(env), **_chosen)


def _checked(values: Mapping[str, object]) -> dict[str, object]:
    unknown = set(values) - _FIELDS
    if unknown:
        raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
    out = dict(values)
    if isinstance(out.get("backend"), str):
        backend = str(out["backend"]).strip().lower()
        out["backend"] = None if backend in ("", "auto") else backend
    if isinstance(out.get("kubeconfig"), (str, Path)):
        out["kubeconfig"] = Path(out["kubeconfig"]).expanduser()
    return out


def choose(**values: object) -> None:
    """Fix settings for the rest of this process (None values are ignored).

    >>> choose(prefix="ws1-07"); settings({}).prefix
    'ws1-07'
    >>> _chosen.clear()
    """
    _chosen.update(_checked({k: v for k, v in values.items() if v is not None}))


@contextmanager
def chosen(**values: object) -> Iterator[Settings]:
    """Settings fixed for a ``with`` block (a bench at one version), then as before.

    >>> with chosen(kubernetes="1.34"):
    ...     settings({}).kubernetes
    '1.34'
    >>> settings({}).kubernetes
    ''
    """
    before = dict(_chosen)
    choose(**values)
    try:
        yield settings()
    finally:
        _chosen.clear()
        _chosen.update(before)
