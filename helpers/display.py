"""Show Kubernetes objects the way ``kubectl get -o yaml`` does, minus the noise."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

__all__ = ["as_dict", "show_yaml", "to_yaml"]

_SERIALIZER = client.ApiClient()


def as_dict(obj: Any) -> Any:
    """A client model (e.g. ``V1Pod``) as the plain dict the API server sent, camelCase keys.

    >>> as_dict(client.V1ObjectMeta(name="demo", namespace="ns"))
    {'name': 'demo', 'namespace': 'ns'}
    """
    return _SERIALIZER.sanitize_for_serialization(obj)


def to_yaml(obj: Any, *, drop: tuple[str, ...] = ("managedFields",)) -> str:
    """YAML of a client model or dict, without ``metadata.managedFields`` (bookkeeping)."""
    data = as_dict(obj)
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        data = {**data, "metadata": {k: v for k, v in data["metadata"].items() if k not in drop}}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def show_yaml(obj: Any) -> None:
    """Print :func:`to_yaml` of ``obj`` (what a cell shows instead of a raw repr)."""
    print(to_yaml(obj), end="")
