"""Show what a cell shows, readably: objects as ``kubectl get -o yaml`` without the noise,
tables, and lines that fit."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import yaml
from kubernetes import client

__all__ = [
    "OUTPUT_COLUMNS",
    "as_dict",
    "fold",
    "kubectl_summary",
    "readable_tables",
    "series_html",
    "show_yaml",
    "table_html",
    "to_yaml",
    "user_info_html",
]

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


#: ``kubectl apply``'s copy of the manifest, kept in the object: one long line of bookkeeping.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def to_yaml(obj: Any, *, drop: tuple[str, ...] = ("managedFields",)) -> str:
    """YAML of a client model or dict, without ``metadata.managedFields`` and kubectl's
    last-applied-configuration annotation (bookkeeping):

    >>> print(to_yaml({"metadata": {"name": "sa", "annotations": {LAST_APPLIED: "{…}"}}}), end="")
    metadata:
      name: sa

    File modes are written in octal, the way manifests are written (the API sends decimal):

    >>> print(to_yaml({"defaultMode": 420, "items": [{"path": "token", "mode": 384}]}), end="")
    defaultMode: 0644
    items:
    - path: token
      mode: 0600
    """
    data = as_dict(obj)
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        metadata = {k: v for k, v in data["metadata"].items() if k not in drop}
        if isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = {
                k: v for k, v in metadata["annotations"].items() if k != LAST_APPLIED
            }
            if not metadata["annotations"]:
                del metadata["annotations"]
        data = {**data, "metadata": metadata}
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
#: The selector outweighs JupyterLab's ``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td``.
TABLE_CLASS = "sa-course-table"
_CELLS = f"table.dataframe.{TABLE_CLASS} td, table.dataframe.{TABLE_CLASS} th"
_TABLE_STYLE = (
    f"<style>{_CELLS} {{text-align: left; vertical-align: top;"
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


def series_html(series: Any) -> str:
    """A Series as a table of one column (its name, if any), not text ending in ``dtype: …``.

    >>> import pandas as pd
    >>> html = series_html(pd.Series({"constrained": True}, name="on this cluster"))
    >>> "<th>constrained</th>" in html and "on this cluster" in html and "dtype" not in html
    True
    """
    return table_html(series.to_frame("" if series.name is None else series.name))


def user_info_html(user: client.V1UserInfo) -> str:
    """Who the API server says someone is (``whoami``): a table, not the model's dict repr.

    >>> html = user_info_html(client.V1UserInfo(username="system:node:n1",
    ...                                         groups=["system:nodes", "system:authenticated"]))
    >>> "<td>system:nodes, system:authenticated</td>" in html and "None" not in html
    True
    """
    import pandas as pd

    rows = {
        "username": user.username,
        "uid": user.uid or "—",
        "groups": ", ".join(user.groups or []),
    }
    rows |= {f"extra: {key}": ", ".join(values) for key, values in (user.extra or {}).items()}
    return table_html(pd.Series(rows).to_frame("user info"))


#: Characters a line of output holds in JupyterLab at 1400 px with the file browser open
#: (945 px of 13-px DejaVu Sans Mono); a longer line wraps there, in the middle of a word.
OUTPUT_COLUMNS = 118


def fold(text: str, width: int = OUTPUT_COLUMNS) -> str:
    """``text`` with each long line wrapped between words, continued indented.

    >>> print(fold("Refused as expected: 403 Forbidden: " + "pods is forbidden " * 4, width=40))
    Refused as expected: 403 Forbidden: pods
        is forbidden pods is forbidden pods
        is forbidden pods is forbidden
    """
    return "\n".join(
        textwrap.fill(line, width, subsequent_indent="    ", break_long_words=False,
                      break_on_hyphens=False) if len(line) > width else line
        for line in text.splitlines()
    )  # fmt: skip


#: kubectl's line per object: ``kind[.group]/name created`` (apply, create) or
#: ``kind[.group] "name" deleted [from <ns> namespace]`` (delete).
_KUBECTL_LINE = re.compile(
    r'^(?P<kind>[\w-]+)(?:\.[\w.-]+)?(?:/(?P<name>\S+)| "(?P<quoted>[^"]+)")'
    r" (?P<verb>created|configured|unchanged|deleted)(?: from (?P<ns>\S+) namespace)?$"
)


def kubectl_summary(out: str) -> str:
    """kubectl's line per object as one line per verb, objects of one name together.

    >>> print(kubectl_summary(
    ...     'role.rbac.authorization.k8s.io "intern-role" deleted from ns1 namespace\\n'
    ...     'rolebinding.rbac.authorization.k8s.io "intern-role" deleted from ns1 namespace\\n'
    ...     "serviceaccount/deployer created\\n"
    ...     "rolebinding.rbac.authorization.k8s.io/deployer-edit created\\n"
    ...     "error: something else\\n"))
    deleted role and rolebinding intern-role in ns1
    created serviceaccount deployer, rolebinding deployer-edit
    error: something else

    A line it does not know is kept as it is; a long result wraps (:func:`fold`).
    """
    said: dict[tuple[str, str], dict[str, list[str]]] = {}  # (verb, namespace) → name → kinds
    order: list[str | tuple[str, str]] = []
    for line in filter(str.strip, out.splitlines()):
        match = _KUBECTL_LINE.match(line.strip())
        if not match:
            order.append(line)
            continue
        key = (match["verb"], match["ns"] or "")
        if key not in said:
            said[key] = {}
            order.append(key)
        said[key].setdefault(match["name"] or match["quoted"], []).append(match["kind"])

    def sentence(key: tuple[str, str]) -> str:
        objects = ", ".join(f"{' and '.join(kinds)} {name}" for name, kinds in said[key].items())
        verb, namespace = key
        return f"{verb} {objects}" + (f" in {namespace}" if namespace else "")

    return fold("\n".join(item if isinstance(item, str) else sentence(item) for item in order))


def readable_tables() -> None:
    """Show DataFrames, Series and ``whoami``'s answers as tables in this IPython kernel."""
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
    formatter.for_type(pd.Series, series_html)
    formatter.for_type(client.V1UserInfo, user_info_html)
