"""The clean-up of legacy (Secret-based) ServiceAccount tokens: invalidated, then deleted.

Two actors can end a legacy token's life besides deleting its Secret:

- **kube-apiserver** rejects any token whose Secret carries the label
  ``kubernetes.io/legacy-token-invalid-since`` (and warns about *auto-generated* ones);
- **the legacy-service-account-token-cleaner** in kube-controller-manager adds that label
  to auto-generated token Secrets unused for one period
  (``--legacy-service-account-token-clean-up-period``, default 365 days), and deletes them
  one period later. It runs when kube-controller-manager starts, then every 24 hours.

:func:`cleaner_verdict` is a faithful, pure model of one cleaner pass over one Secret
(``pkg/controller/serviceaccount/legacy_serviceaccount_token_cleaner.go``, Kubernetes
1.30–1.36), so a notebook can show *what the cleaner would do, and when*, without waiting
a year. The tracking side (last-used label, ``since``) lives in :mod:`helpers.legacy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from kubernetes import client

from .accounts import LEGACY_SECRET_TYPE, SA_NAME_ANNOTATION
from .legacy import LAST_USED_LABEL

__all__ = [
    "AUTO_GENERATED_WARNING",
    "CLEANER_SYNC_INTERVAL",
    "DEFAULT_CLEAN_UP_PERIOD",
    "INVALID_SINCE_LABEL",
    "SA_UID_ANNOTATION",
    "CleanerVerdict",
    "cleaner_verdict",
    "date_label",
    "invalidated_message",
    "references_each_other",
    "secret_names_used_by_pods",
]

SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"

DEFAULT_CLEAN_UP_PERIOD = timedelta(days=365)
"""kube-controller-manager ``--legacy-service-account-token-clean-up-period`` (8760h0m0s)."""

CLEANER_SYNC_INTERVAL = timedelta(hours=24)
"""How often the cleaner runs (a constant in the source; no flag changes it)."""

AUTO_GENERATED_WARNING = (
    "Use tokens from the TokenRequest API or manually created secret-based tokens instead "
    "of auto-generated secret-based tokens."
)
"""The HTTP ``Warning`` the API server adds when an auto-generated token is used."""

_DATE = "%Y-%m-%d"


def date_label(when: datetime | date) -> str:
    """The ``YYYY-MM-DD`` (UTC) form the tracking labels and ConfigMap use.

    >>> date_label(datetime(2026, 11, 28, 23, 30, tzinfo=UTC))
    '2026-11-28'
    """
    if isinstance(when, datetime):
        when = when.astimezone(UTC).date()
    return when.strftime(_DATE)


def invalidated_message(namespace: str, secret: str, service_account: str) -> str:
    """The API server's error for a token whose Secret is labelled invalid-since.

    >>> invalidated_message("ns", "s", "sa")[:60]
    'the token in secret ns/s for service account ns/sa has been '
    """
    return (
        f"the token in secret {namespace}/{secret} for service account "
        f"{namespace}/{service_account} has been marked invalid. Use tokens from the "
        "TokenRequest API or manually created secret-based tokens, or remove the "
        f"'{INVALID_SINCE_LABEL}' label from the secret to temporarily allow use of this token"
    )


def references_each_other(
    secret: client.V1Secret, service_account: client.V1ServiceAccount | None
) -> bool:
    """True if token Secret and ServiceAccount name each other, as the cleaner requires.

    The cleaner treats a token as *auto-generated* only with a bidirectional reference: the
    Secret names the ServiceAccount (annotation, and its UID if that is annotated too) and
    the ServiceAccount's ``.secrets`` names the Secret. (The API server's warning only
    checks the second half: :func:`helpers.legacy.is_auto_generated`.)
    """
    if secret.type != LEGACY_SECRET_TYPE or service_account is None:
        return False
    annotations = secret.metadata.annotations or {}
    if annotations.get(SA_NAME_ANNOTATION) != service_account.metadata.name:
        return False
    uid = annotations.get(SA_UID_ANNOTATION)
    if uid and uid != service_account.metadata.uid:
        return False
    return any(ref.name == secret.metadata.name for ref in service_account.secrets or [])


def _pod_secret_names(pod: client.V1Pod) -> set[str]:
    spec = pod.spec
    names = {ref.name for ref in spec.image_pull_secrets or [] if ref.name}
    for volume in spec.volumes or []:
        if volume.secret and volume.secret.secret_name:
            names.add(volume.secret.secret_name)
        if volume.projected:
            names |= {s.secret.name for s in volume.projected.sources or [] if s.secret}
    containers = [*(spec.init_containers or []), *(spec.containers or [])]
    containers += spec.ephemeral_containers or []
    for container in containers:
        for source in container.env_from or []:
            if source.secret_ref:
                names.add(source.secret_ref.name)
        for env in container.env or []:
            ref = env.value_from.secret_key_ref if env.value_from else None
            if ref:
                names.add(ref.name)
    return names


def secret_names_used_by_pods(pods: Iterable[client.V1Pod]) -> set[str]:
    """Secrets the Pods mount or reference (volumes, env, image pull secrets).

    The cleaner leaves such Secrets alone: deleting them would break a running Pod.
    """
    names: set[str] = set()
    for pod in pods:
        names |= _pod_secret_names(pod)
    return names


Action = Literal["skip", "wait", "keep", "invalidate", "delete"]


@dataclass(frozen=True)
class CleanerVerdict:
    """What one pass of the cleaner does with one Secret, and why."""

    action: Action
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"


def _parse_date(value: str | None) -> date | None:
    try:
        return datetime.strptime(value or "", _DATE).date()
    except ValueError:
        return None


def cleaner_verdict(
    secret: client.V1Secret,
    service_account: client.V1ServiceAccount | None,
    pods: Iterable[client.V1Pod],
    *,
    tracked_since: date | str,
    now: datetime,
    period: timedelta = DEFAULT_CLEAN_UP_PERIOD,
) -> CleanerVerdict:
    """What a pass of kube-controller-manager's legacy-token cleaner would do with ``secret``.

    The same tests, in the same order, as ``evaluateSATokens``:

    1. tracking must have run for a full period: ``now >= since + 1 day + period``;
    2. the Secret must be older than one period and not being deleted;
    3. it must not have been used (``legacy-token-last-used``) within the last period;
    4. it must be auto-generated (its ServiceAccount lists it) and mounted by no Pod;
    5. no valid ``legacy-token-invalid-since`` label → the cleaner adds one (today);
       a label older than one period → the cleaner deletes the Secret.

    Args:
        secret: The Secret.
        service_account: Its ServiceAccount (``None`` if it does not exist).
        pods: The Pods of the Secret's namespace.
        tracked_since: The tracking ConfigMap's ``since`` (a date or ``YYYY-MM-DD``).
        now: The moment of the pass (timezone-aware).
        period: ``--legacy-service-account-token-clean-up-period``.

    Returns:
        A :class:`CleanerVerdict`: ``skip`` (not a token Secret), ``wait`` (tracking too
        recent: nothing is touched yet), ``keep``, ``invalidate`` or ``delete``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC).")
    if period <= timedelta(0):
        raise ValueError(
            "The clean-up period must be positive (kube-controller-manager refuses 0)."
        )
    now = now.astimezone(UTC)
    if secret.type != LEGACY_SECRET_TYPE:
        return CleanerVerdict("skip", "not a ServiceAccount token Secret")
    since = tracked_since if isinstance(tracked_since, date) else _parse_date(tracked_since)
    if since is None:
        return CleanerVerdict("wait", "the tracking ConfigMap has no valid 'since' date")
    tracking_start = datetime.combine(since + timedelta(days=1), time(), UTC)
    if now < tracking_start + period:
        return CleanerVerdict(
            "wait",
            f"tracking not long enough: nothing happens before "
            f"{tracking_start + period:%Y-%m-%d %H:%M}Z",
        )
    cutoff = now - period
    cutoff_date = cutoff.date()
    created = secret.metadata.creation_timestamp
    if created is None or not created < cutoff:
        return CleanerVerdict("keep", "created less than one period ago")
    if secret.metadata.deletion_timestamp is not None:
        return CleanerVerdict("keep", "already being deleted")
    labels = secret.metadata.labels or {}
    if LAST_USED_LABEL in labels:
        last_used = _parse_date(labels[LAST_USED_LABEL])
        if last_used is None:
            return CleanerVerdict("keep", "last-used label is not a date")
        if last_used >= cutoff_date:
            return CleanerVerdict("keep", f"used on {last_used}, within the last period")
    if not references_each_other(secret, service_account):
        return CleanerVerdict("keep", "not auto-generated (the ServiceAccount does not list it)")
    if secret.metadata.name in secret_names_used_by_pods(pods):
        return CleanerVerdict("keep", "mounted or referenced by a Pod")
    invalid_since = _parse_date(labels.get(INVALID_SINCE_LABEL))
    if invalid_since is None:
        return CleanerVerdict("invalidate", f"label {INVALID_SINCE_LABEL}={date_label(now)}")
    if invalid_since >= cutoff_date:
        return CleanerVerdict("keep", f"invalid since {invalid_since}, less than a period ago")
    return CleanerVerdict("delete", f"unused and invalid since {invalid_since}")
