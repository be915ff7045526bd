"""In a workshop, each lab check also records its outcome for the instructor's board.

What is recorded, in the ConfigMap ``sa-course-progress`` of your home namespace
(``<prefix>-home``): per question, its status (Correct, Not yet, Not attempted), when, and
how many attempts — never your answer. It is fire-and-forget: a background thread with a
short timeout, so a slow cluster never holds up a check; outside a workshop nothing is
recorded at all.

    >>> key("helpers.labs.lab04_least_privilege", "q2")
    'lab04.q2'
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from .. import names

__all__ = ["CONFIGMAP", "TIMEOUT_SECONDS", "flush", "home", "key", "record", "value"]

#: The ConfigMap in ``<prefix>-home`` the workshop creates, and the learner may patch.
CONFIGMAP = "sa-course-progress"
TIMEOUT_SECONDS = 3.0
_lock = threading.Lock()
_pending: list[threading.Thread] = []


def flush(timeout: float = TIMEOUT_SECONDS) -> None:
    """Wait (briefly) for records still on their way; run when the kernel exits."""
    deadline = time.monotonic() + timeout
    while _pending:
        _pending.pop().join(max(0.0, deadline - time.monotonic()))


atexit.register(flush)


def home(prefix: str) -> str:
    """A learner's home namespace."""
    return f"{prefix}-home"


def key(lab_module: str, question: str) -> str:
    """The ConfigMap key of a question: ``lab04.q2``."""
    return f"{lab_module.rsplit('.', 1)[-1].split('_', 1)[0]}.{question}"


def value(status: str, attempts: int, at: datetime | None = None) -> str:
    """What is stored for one question (JSON).

    >>> value("Correct", 2, datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    '{"status": "Correct", "attempts": 2, "at": "2026-12-02T09:00:00+00:00"}'
    """
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    return json.dumps({"status": status, "attempts": attempts, "at": when})


def record(course: Any, lab_module: str, question: str, status: str) -> threading.Thread | None:
    """Record one check's outcome in the background; None outside a workshop.

    ``course`` is the lab's :class:`~helpers.course.Course` (its API client is used).
    """
    api = getattr(course, "api", None)
    if api is None or not names.workshop():
        return None
    k = key(lab_module, question)
    thread = threading.Thread(
        target=_patch, args=(api, names.prefix(), k, status, datetime.now(UTC)), daemon=True
    )
    thread.start()
    _pending[:] = [t for t in _pending if t.is_alive()] + [thread]
    return thread


def _patch(api: client.ApiClient, prefix: str, k: str, status: str, at: datetime) -> None:
    core = client.CoreV1Api(api)
    try:
        with _lock:  # one learner's checks, one at a time: attempts count up
            current = core.read_namespaced_config_map(
                CONFIGMAP, home(prefix), _request_timeout=TIMEOUT_SECONDS
            )
            before = json.loads((current.data or {}).get(k, "{}")).get("attempts", 0)
            body: dict[str, Any] = {"data": {k: value(status, before + 1, at)}}
            core.patch_namespaced_config_map(
                CONFIGMAP, home(prefix), body, _request_timeout=TIMEOUT_SECONDS
            )
    except Exception:  # fire-and-forget: the board misses one update, the check goes on
        pass
