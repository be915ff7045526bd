"""The files the kubelet writes into a Pod, read without guessing: ``stat`` and ``..data``.

The kubelet writes a projected volume (the ServiceAccount token, ``ca.crt``,
``namespace``) with its *atomic writer*: every change goes into a new hidden directory
``..YYYY_MM_DD_HH_MM_SS.<random>`` (UTC), the symlink ``..data`` is switched to it in one
rename, and the names you read (``token``, ``ca.crt``, ``namespace``) are symlinks
``token -> ..data/token`` made once, when the Pod starts.

- :func:`stat_in_pod` runs ``stat`` (or ``stat -L``) in a container and parses it into a
  :class:`FileStat`, so a cell can assert "this is the symlink, that is the file".
- :func:`data_dir_time` reads the UTC time out of a ``..data`` target's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes import client

from .pods import exec_in_pod

__all__ = ["STAT_FORMAT", "FileStat", "data_dir_time", "parse_stat", "stat_in_pod"]

#: ``stat -c`` format understood by :func:`parse_stat` (busybox and GNU stat agree on it).
STAT_FORMAT = "%n|%F|%s|%i|%y"

_DATA_DIR = re.compile(r"^\.\.(\d{4})_(\d\d)_(\d\d)_(\d\d)_(\d\d)_(\d\d)\.\d+$")
_STAT_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? ?([+-]\d{4})?$")


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` says about one path.

    Attributes:
        path: The path as given to ``stat``.
        kind: ``"symbolic link"``, ``"regular file"``, ``"directory"`` …
        size: Size in bytes (for a symlink: the length of its target's name).
        inode: Inode number: a rewritten file gets a new one.
        modified: "Modify" time, timezone-aware UTC, microsecond precision.
    """

    path: str
    kind: str
    size: int
    inode: int
    modified: datetime


def _parse_time(text: str) -> datetime:
    """``2026-11-28 09:46:11.204933093 +0000`` → aware UTC datetime (µs precision)."""
    match = _STAT_TIME.match(text.strip())
    if not match:
        raise ValueError(f"Not a stat timestamp: {text!r}.")
    day, clock, fraction, offset = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    stamp = datetime.strptime(
        f"{day} {clock}.{micros} {offset or '+0000'}", "%Y-%m-%d %H:%M:%S.%f %z"
    )
    return stamp.astimezone(UTC)


def parse_stat(line: str) -> FileStat:
    """Parse one line of ``stat -c '%n|%F|%s|%i|%y' PATH`` output.

    Args:
        line: The line ``stat`` printed with :data:`STAT_FORMAT`.

    Returns:
        A :class:`FileStat`.

    Raises:
        ValueError: If the line does not have the five fields.

    Example:
        >>> st = parse_stat("/sa/token|symbolic link|12|7|2026-11-28 09:45:46.329673317 +0000")
        >>> st.kind, st.size, st.modified.isoformat()
        ('symbolic link', 12, '2026-11-28T09:45:46.329673+00:00')
    """
    parts = line.strip().split("|")
    if len(parts) != 5:
        raise ValueError(f"Expected five |-separated stat fields, got: {line!r}.")
    path, kind, size, inode, modified = parts
    return FileStat(path, kind, int(size), int(inode), _parse_time(modified))


def stat_in_pod(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    path: str,
    *,
    follow: bool = False,
    container: str | None = None,
) -> FileStat:
    """``stat PATH`` (or ``stat -L PATH`` with ``follow``) inside a Pod's container.

    Without ``follow`` a symlink is described itself (what the article's ``stat`` showed);
    with ``follow`` the file it points to is.
    """
    command = ["stat", *(["-L"] if follow else []), "-c", STAT_FORMAT, path]
    return parse_stat(exec_in_pod(core, namespace, pod, command, container=container).stdout)


def data_dir_time(name: str) -> datetime:
    """The UTC time in the name of an atomic-writer directory (the target of ``..data``).

    Args:
        name: E.g. ``"..2026_11_28_09_45_46.1133852166"`` (a path ending in it works too).

    Returns:
        The aware UTC datetime the kubelet wrote that directory.

    Raises:
        ValueError: If the name is not an atomic-writer directory name.

    Example:
        >>> data_dir_time("..2026_11_28_09_45_46.1133852166").isoformat()
        '2026-11-28T09:45:46+00:00'
    """
    base = name.strip().rstrip("/").rsplit("/", 1)[-1]
    match = _DATA_DIR.match(base)
    if not match:
        raise ValueError(
            f"{base!r} is not a kubelet atomic-writer directory (..YYYY_MM_DD_HH_MM_SS.N)."
        )
    year, month, day, hour, minute, second = (int(x) for x in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
