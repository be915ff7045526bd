"""Show Kubernetes objects the way ``kubectl get -o yaml`` does, minus the noise."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

__all__ = ["as_dict", "readable_tables", "show_yaml", "table_html", "to_yaml"]

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


#: How every table of the course reads (JupyterLab right-aligns cells, and pandas cuts long
#: text at 50 characters): text left-aligned, wrapped rather than cut, rows aligned at top.
TABLE_CLASS = "sa-course-table"
_TABLE_STYLE = (
    f"<style>.{TABLE_CLASS} td, .{TABLE_CLASS} th {{text-align: left; vertical-align: top;"
    " white-space: pre-wrap; overflow-wrap: anywhere; max-width: 48em}</style>"
)


def table_html(frame: Any) -> str:
    """A DataFrame as the course shows it: left-aligned, whole text wrapped, not cut.

    >>> import pandas as pd
    >>> html = table_html(pd.DataFrame({"message": ["x" * 80]}))
    >>> "x" * 80 in html and "text-align: left" in html
    True
    """
    import pandas as pd

    with pd.option_context("display.max_colwidth", None):
        body = frame.to_html(
            classes=TABLE_CLASS,
            max_rows=pd.get_option("display.max_rows"),
            max_cols=pd.get_option("display.max_columns"),
            show_dimensions=False,
        )
    return _TABLE_STYLE + body


def readable_tables() -> None:
    """Show DataFrames with :func:`table_html` in this IPython kernel (none: nothing)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the course
        return
    shell = get_ipython()
    if shell is None:
        return
    import pandas as pd

    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, table_html)
