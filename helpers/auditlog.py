"""Read the course cluster's audit log: the events a token leaves behind.

Where the control plane can be seen (notebook 00), kube-apiserver's ``--audit-log-path``
says where its log is: on this machine (``local``) or inside the node container
(``kind``). On an existing cluster the log belongs to its administrator (on a managed
cluster, to a cloud logging service): :func:`audit_log` returns ``None`` and the course
says so instead of guessing.

Each line of the log is one JSON event (``audit.k8s.io/v1`` ``Event``). The course's own
clusters log at ``Metadata`` level (``helpers.cluster.auditpolicy``): who, what, when, the
answer and the annotations, no body. That is the policy's doing, not the API server's: at
``Request`` it writes request bodies, at ``RequestResponse`` responses too, and redacts
nothing. :func:`policy_level` says which level a policy gives one request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from .cluster.errors import ClusterError
from .cluster.waiting import read_until

if TYPE_CHECKING:
    from .course import Course

__all__ = [
    "CREDENTIAL_ID",
    "ISSUED_CREDENTIAL_ID",
    "AuditLog",
    "audit_log",
    "events_table",
    "parse_lines",
    "policy_level",
]

#: ``user.extra`` key of every request made with a TokenRequest token: ``JTI=<jti>``.
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
#: Annotation of the TokenRequest that issued a token: the same ``JTI=<jti>``.
ISSUED_CREDENTIAL_ID = "authentication.kubernetes.io/issued-credential-id"

Event = dict[str, Any]


def parse_lines(lines: Iterable[str]) -> list[Event]:
    """The JSON events among ``lines`` (a line cut short by rotation is skipped).

    >>> parse_lines(['{"verb": "get"}', '{"verb": "li', ''])
    [{'verb': 'get'}]
    """
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


@dataclass(frozen=True)
class AuditLog:
    """kube-apiserver's audit log file, read where the cluster keeps it."""

    path: str
    #: Where the file is, for prose ("this machine", "the kind node …").
    where: str
    _grep: Callable[[str, str], list[str]] = field(repr=False, compare=False)

    def events(self, containing: str) -> list[Event]:
        """Every event whose JSON line contains ``containing`` (a JTI, a name …)."""
        return parse_lines(self._grep(containing, self.path))

    def wait_for(
        self,
        containing: str,
        match: Callable[[Event], bool] = lambda event: True,
        count: int = 1,
        timeout: float = 15,
    ) -> list[Event]:
        """Wait until at least ``count`` events contain ``containing`` and ``match``."""
        found = read_until(
            lambda: [e for e in self.events(containing) if match(e)],
            lambda events: len(events) >= count,
            timeout=timeout,
            interval=0.25,
        )
        if len(found) < count:
            raise ClusterError(
                f"The audit log ({self.path}) shows {len(found)} of the {count} events "
                f"expected within {timeout:.0f} s: is kube-apiserver still writing it?"
            )
        return found


def audit_log(course: Course) -> AuditLog | None:
    """The course cluster's audit log, or ``None`` where it cannot be seen from here."""
    cp = course.control_plane
    path = cp.value("kube-apiserver", "--audit-log-path")
    node = course.node
    if node is None or not cp.visible or not path or path == "-":
        return None
    return AuditLog(path, node.where, node.grep)


def events_table(events: Iterable[Event]) -> pd.DataFrame:
    """One row per event: when, who, what, the answer, the caller's and any issued credential id.

    >>> events_table([{"stageTimestamp": "2026-12-02T10:00:00.5Z", "verb": "create",
    ...   "user": {"username": "u", "extra": {CREDENTIAL_ID: ["JTI=x"]}},
    ...   "requestURI": "/api", "responseStatus": {"code": 201},
    ...   "annotations": {"authorization.k8s.io/decision": "allow"}}]).iloc[0].to_dict()
    ... # doctest: +NORMALIZE_WHITESPACE
    {'time (UTC)': '10:00:00.5', 'user': 'u', 'impersonated': '', 'verb': 'create',
     'requestURI': '/api', 'code': 201, 'credential-id': 'JTI=x', 'issued-credential-id': '',
     'decision': 'allow'}
    """
    rows = []
    for e in events:
        user = e.get("user", {})
        rows.append(
            {
                "time (UTC)": e.get("stageTimestamp", "")[11:-1],
                "user": user.get("username", ""),
                "impersonated": (e.get("impersonatedUser") or {}).get("username", ""),
                "verb": e.get("verb", ""),
                "requestURI": e.get("requestURI", ""),
                "code": (e.get("responseStatus") or {}).get("code"),
                "credential-id": ",".join((user.get("extra") or {}).get(CREDENTIAL_ID, [])),
                "issued-credential-id": (e.get("annotations") or {}).get(ISSUED_CREDENTIAL_ID, ""),
                "decision": (e.get("annotations") or {}).get("authorization.k8s.io/decision", ""),
            }
        )
    return pd.DataFrame(rows)


def _resource_matches(
    rule: dict[str, Any], group: str, resource: str, subresource: str, name: str, namespace: str
) -> bool:
    if rule.get("namespaces") and namespace not in rule["namespaces"]:
        return False
    if not rule.get("resources"):
        return True
    combined = f"{resource}/{subresource}" if subresource else resource
    for gr in rule["resources"]:
        if gr.get("group", "") not in (group, "*"):
            continue
        if not gr.get("resources"):
            return True
        if gr.get("resourceNames") and name not in gr["resourceNames"]:
            continue
        for res in gr["resources"]:
            if res in (combined, "*"):
                return True
            if subresource and res.startswith("*/") and res[2:] == subresource:
                return True
            if res.endswith("/*") and res[:-2] == resource:
                return True
    return False


def policy_level(
    policy: str | dict[str, Any],
    *,
    verb: str,
    resource: str = "",
    group: str = "",
    subresource: str = "",
    name: str = "",
    namespace: str = "",
    user: str = "",
    groups: Iterable[str] = (),
    path: str = "",
) -> str:
    """The level an audit policy gives one request: its first matching rule's, else ``None``.

    The rules match as kube-apiserver matches them (``apiserver/pkg/audit/policy/checker.go``,
    Kubernetes 1.33–1.37): users, user groups, verbs, then namespaces and resources (with
    ``resource/subresource``, ``*/subresource``, ``resource/*``; the group ``*`` from 1.36)
    or non-resource URLs.

    >>> policy = {"rules": [{"level": "None", "verbs": ["watch"]},
    ...     {"level": "Metadata", "resources": [{"group": "authentication.k8s.io",
    ...                                          "resources": ["tokenreviews"]}]},
    ...     {"level": "Request"}]}
    >>> policy_level(policy, verb="create", group="authentication.k8s.io", resource="tokenreviews")
    'Metadata'
    >>> policy_level(policy, verb="create", resource="serviceaccounts", subresource="token")
    'Request'
    >>> policy_level({"rules": []}, verb="get", resource="secrets")
    'None'
    """
    doc = yaml.safe_load(policy) if isinstance(policy, str) else policy
    groups = list(groups)
    for rule in (doc or {}).get("rules") or []:
        if rule.get("users") and user not in rule["users"]:
            continue
        if rule.get("userGroups") and not set(groups) & set(rule["userGroups"]):
            continue
        if rule.get("verbs") and verb not in rule["verbs"]:
            continue
        if rule.get("namespaces") or rule.get("resources"):
            if resource and _resource_matches(rule, group, resource, subresource, name, namespace):
                return str(rule["level"])
            continue
        if rule.get("nonResourceURLs"):
            if not resource and any(
                spec in ("*", path) or (spec.endswith("*") and path.startswith(spec.rstrip("*")))
                for spec in rule["nonResourceURLs"]
            ):
                return str(rule["level"])
            continue
        return str(rule["level"])
    return "None"
