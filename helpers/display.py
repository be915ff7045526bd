"""Show Kubernetes objects the way ``kubectl get -o yaml`` does, minus the noise."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

__all__ = ["as_dict", "show_yaml", "to_yaml"]

_SERIALIZER = client.ApiClient()

#: Keys whose integer values are file permission bits (volumes, projections, items).
_FILE_MODE_KEYS = frozenset({"defaultMode", "mode"})


class _FileMode(int):
    """A file mode: dumped in octal (``0644``), as a learner writes it, not as ``420``."""


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that writes :class:`_FileMode` values in octal."""


_Dumper.add_representer(
    _FileMode, lambda dumper, v: dumper.represent_scalar("tag:yaml.org,2002:int", f"0{v:o}")
)


def _mark_file_modes(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _FileMode(v)
            if k in _FILE_MODE_KEYS and isinstance(v, int) and not isinstance(v, bool)
            else _mark_file_modes(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_mark_file_modes(v) for v in data]
    return data


def as_dict(obj: Any) -> Any:
    """A client model (e.g. ``V1Pod``) as the plain dict the API server sent, camelCase keys.

    >>> as_dict(client.V1ObjectMeta(name="demo", namespace="ns"))
    {'name': 'demo', 'namespace': 'ns'}
    """
    return _SERIALIZER.sanitize_for_serialization(obj)


def to_yaml(obj: Any, *, drop: tuple[str, ...] = ("managedFields",)) -> str:
    """YAML of a client model or dict, without ``metadata.managedFields`` (bookkeeping).

    File modes are written in octal, the way manifests are written (the API sends decimal):

    >>> print(to_yaml({"defaultMode": 420, "items": [{"path": "token", "mode": 384}]}), end="")
    defaultMode: 0644
    items:
    - path: token
      mode: 0600
    """
    data = as_dict(obj)
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        data = {**data, "metadata": {k: v for k, v in data["metadata"].items() if k not in drop}}
    return yaml.dump(
        _mark_file_modes(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )


def show_yaml(obj: Any) -> None:
    """Print :func:`to_yaml` of ``obj`` (what a cell shows instead of a raw repr)."""
    print(to_yaml(obj), end="")
