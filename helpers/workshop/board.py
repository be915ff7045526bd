"""The instructor's live progress board: learners × lab questions, from what checks recorded.

Every lab check of a learner writes its outcome to the learner's ``sa-course-progress``
ConfigMap (:mod:`helpers.labs.progress`); the board reads them all, as the cluster's admin.
The learner can write that ConfigMap too, so what it says is *self-reported*: a ✓ there
is shown as ``✓?`` until ``--verify`` (:func:`verify`) has seen it on the cluster. Every
entry is checked before it is shown; one that is not what a check writes shows ``⚠``.

    >>> cell(entry('{"status": "Correct", "attempts": 2, "at": "2026-12-02T09:00:00+00:00"}'))
    '✓?'
    >>> cell(entry('{"status": "Not yet", "attempts": 3, "at": "2026-12-02T09:00:00+00:00"}'))
    '✗3'
    >>> cell(None), cell(entry("{not json")), cell(entry('{"status": "Correct"}'))
    ('·', '⚠', '⚠')
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
import pkgutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .. import labs, names
from ..cluster.waiting import get_or_none
from ..labs import progress
from ..labs.checks import Lab
from . import kubeconfigs
from .classroom import Workshop

__all__ = [
    "IDLE_MINUTES",
    "MALFORMED",
    "STUCK_ATTEMPTS",
    "board",
    "cell",
    "entry",
    "questions",
    "to_html",
    "verify",
]

#: A question tried this often without success, or this long without any check: stuck?
STUCK_ATTEMPTS = 3
IDLE_MINUTES = 20


def _labs() -> list[tuple[Any, type[Lab]]]:
    """(module, Lab subclass) of every lab, in lab order."""
    found = []
    for info in sorted(pkgutil.iter_modules(labs.__path__), key=lambda m: m.name):
        if not info.name.startswith("lab"):
            continue
        module = importlib.import_module(f"{labs.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Lab) and cls is not Lab and cls.__module__ == module.__name__:
                found.append((module, cls))
    return found


def questions() -> list[str]:
    """Every lab question's key (``lab04.q2``), in lab order."""
    return [
        progress.key(module.__name__, f"q{i}")
        for module, cls in _labs()
        for i in range(1, len(cls.question_types) + 1)
    ]


def verify(ws: Workshop) -> pd.DataFrame:
    """Re-run each question's cluster-state check for every learner, as the instructor.

    Only questions that read nothing but the cluster can be re-run (a learner's answer is
    never recorded): the others show ``—``. ``✓`` the cluster shows it solved now, ``✗`` not.
    """
    rows = []
    for prefix in ws.existing():
        row: dict[str, str] = {"learner": prefix}
        for module, cls in _labs():
            base = names.unprefixed(module.NAMESPACE)
            lab = cls(ws.admin, names.ns(base, prefix))
            for i, q in enumerate(lab.questions, start=1):
                k = progress.key(module.__name__, f"q{i}")
                if q.variables:
                    row[k] = "—"
                    continue
                try:
                    q.evaluate()
                    row[k] = "✓"
                except Exception:  # NotYet, NotAttempted, or a scenario that is gone
                    row[k] = "✗"
        rows.append(row)
    return pd.DataFrame(rows).set_index("learner") if rows else pd.DataFrame()


#: What a malformed entry parses to (shown as ⚠).
MALFORMED: dict[str, Any] = {"malformed": True}
_STATUSES = ("Correct", "Not yet", "Not attempted")


def entry(raw: str) -> dict[str, Any]:
    """One stored entry, checked: what :func:`helpers.labs.progress.value` writes, or MALFORMED."""
    try:
        data = json.loads(raw)
        ok = (
            isinstance(data, dict)
            and data.get("status") in _STATUSES
            and isinstance(data.get("attempts"), int)
            and 0 <= data["attempts"] < 1_000_000
            and isinstance(data.get("at"), str)
            and datetime.fromisoformat(data["at"]).tzinfo is not None
        )
    except (ValueError, TypeError):
        ok = False
    return {k: data[k] for k in ("status", "attempts", "at")} if ok else MALFORMED


def cell(e: dict[str, Any] | None, verified: str = "") -> str:
    """One question of one learner: ✓ seen on the cluster, ✓? self-reported, ✗N not yet
    after N attempts, · nothing yet, ⚠ an entry no check wrote."""
    if not e:
        return "·"
    if e is MALFORMED or e.get("malformed"):
        return "⚠"
    if e.get("status") == "Correct":
        return "✓" if verified == "✓" else "✓?"
    return f"✗{e.get('attempts', 1)}"


def board(
    ws: Workshop, now: datetime | None = None, verified: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Learners × questions, with each learner's token expiry, last activity and a stuck flag.

    With ``verified`` (:func:`verify`'s table), a self-reported ✓ the cluster confirms is ✓.
    """
    now = now or datetime.now(UTC)
    keys = questions()
    expiry = {f.prefix: f.expires for f in kubeconfigs.read(ws.dir)}
    rows = []
    for prefix in ws.existing():
        cm = get_or_none(
            lambda prefix=prefix: ws.admin.core.read_namespaced_config_map(
                progress.CONFIGMAP, progress.home(prefix), _request_timeout=30
            )
        )
        raw = (cm.data if cm is not None else None) or {}
        parsed = {k: entry(v) for k, v in raw.items() if k in keys}
        bad = sum(1 for e in parsed.values() if e is MALFORMED)
        data = {k: e for k, e in parsed.items() if e is not MALFORMED}
        times = [datetime.fromisoformat(e["at"]) for e in data.values()]
        last = max(times) if times else None
        stuck = [
            k
            for k, e in data.items()
            if e.get("status") != "Correct" and e.get("attempts", 0) >= STUCK_ATTEMPTS
        ]
        done = sum(1 for e in data.values() if e.get("status") == "Correct")
        idle = last is not None and (now - last).total_seconds() > IDLE_MINUTES * 60
        row: dict[str, Any] = {"learner": prefix}
        checked = verified.loc[prefix] if verified is not None and prefix in verified.index else {}
        row.update({k: cell(parsed.get(k), checked.get(k, "")) for k in keys})
        row["done"] = f"{done}/{len(keys)}"
        row["last check"] = f"{last:%H:%M}" if last else "—"
        row["token until"] = f"{expiry[prefix]:%H:%M}" if prefix in expiry else "—"
        row["stuck?"] = ", ".join(stuck) or ("idle" if idle and done < len(keys) else "")
        if bad:
            row["stuck?"] = (row["stuck?"] + f"; {bad} entries no check wrote").lstrip("; ")
        rows.append(row)
    return pd.DataFrame(rows).set_index("learner") if rows else pd.DataFrame()


def to_html(table: pd.DataFrame, title: str, refresh_seconds: int = 10) -> str:
    """A page for the projector that reloads itself."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{refresh_seconds}'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
        "td,th{padding:2px 6px;text-align:center}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>updated {datetime.now(UTC):%H:%M:%S} UTC</p>"
        f"{table.to_html(escape=True)}</body></html>"
    )


def watch(ws: Workshop, every: float, html_file: Path | None = None) -> None:
    """Print (and write) the board every ``every`` seconds until interrupted."""
    try:
        while True:
            table = board(ws)
            print("\033[2J\033[H" + (table.to_string() if not table.empty else "no learners"))
            if html_file:
                html_file.write_text(to_html(table, f"workshop {ws.name}"))
            time.sleep(every)
    except KeyboardInterrupt:
        pass
