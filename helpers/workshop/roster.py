"""The workshop's own record of what ``up`` made: learners, instructors, limits.

The instructor's commands take their learners from here and nowhere else — never from a
label, which a learner could write on a namespace of their own. The record is a
ConfigMap in the workshop's own namespace (``sa-course-workshop-ws1``), where learners
hold no right at all.

    >>> r = Roster("ws1", ["ws1-01", "ws1-02"], ["kubernetes-admin"])
    >>> Roster.from_data("ws1", r.to_data()) == r
    True
    >>> namespace("ws1")
    'sa-course-workshop-ws1'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..cluster.waiting import get_or_none

__all__ = ["CONFIGMAP", "Roster", "namespace", "read", "write"]

CONFIGMAP = "roster"


def namespace(workshop: str) -> str:
    """The workshop's own namespace: not under any learner's prefix."""
    return f"sa-course-workshop-{workshop}"


@dataclass
class Roster:
    """What ``up`` made, as the instructor's commands need it."""

    workshop: str
    learners: list[str] = field(default_factory=list)
    #: Who may write into the learners' spaces besides the learners (their usernames).
    instructors: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, str]:
        return {
            "learners": json.dumps(sorted(self.learners)),
            "instructors": json.dumps(sorted(self.instructors)),
        }

    @classmethod
    def from_data(cls, workshop: str, data: dict[str, str]) -> Roster:
        return cls(
            workshop,
            sorted(json.loads(data.get("learners", "[]"))),
            sorted(json.loads(data.get("instructors", "[]"))),
        )


def read(core: Any, workshop: str) -> Roster | None:
    """The workshop's roster, or None if there is no such workshop on this cluster."""
    cm = get_or_none(
        lambda: core.read_namespaced_config_map(CONFIGMAP, namespace(workshop), _request_timeout=30)
    )
    if cm is None:
        return None
    return Roster.from_data(workshop, cm.data or {})


def write(core: Any, roster: Roster, labels: dict[str, str]) -> None:
    """Create or replace the roster (and the workshop's namespace)."""
    ns = namespace(roster.workshop)
    try:
        core.create_namespace({"metadata": {"name": ns, "labels": labels}}, _request_timeout=30)
    except ApiException as exc:
        if exc.status != 409:
            raise
    body = {"metadata": {"name": CONFIGMAP, "labels": labels}, "data": roster.to_data()}
    replace = lambda: core.replace_namespaced_config_map(  # noqa: E731
        CONFIGMAP, ns, body, _request_timeout=30
    )
    if get_or_none(replace) is None:
        core.create_namespaced_config_map(ns, body, _request_timeout=30)
