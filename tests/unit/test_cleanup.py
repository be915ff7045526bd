"""Unit tests for helpers.cleanup: a model of kube-controller-manager's legacy-token cleaner."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kubernetes import client

from helpers.cleanup import (
    DEFAULT_CLEAN_UP_PERIOD,
    INVALID_SINCE_LABEL,
    SA_UID_ANNOTATION,
    CleanerVerdict,
    cleaner_verdict,
    date_label,
    invalidated_message,
    references_each_other,
    secret_names_used_by_pods,
)
from helpers.legacy import LAST_USED_LABEL

NS = "legacy-lifecycle-ns"
SINCE = "2026-11-28"  # tracking starts to count at 2026-11-29T00:00Z
CREATED = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SA_UID = "5a5a5a5a-0000-4000-8000-000000000001"
YEAR = DEFAULT_CLEAN_UP_PERIOD


def secret(
    name: str = "old-app-token",
    *,
    labels: dict[str, str] | None = None,
    uid: str | None = SA_UID,
    created: datetime = CREATED,
    kind: str = "kubernetes.io/service-account-token",
    deleting: bool = False,
) -> client.V1Secret:
    annotations = {"kubernetes.io/service-account.name": "old-app"}
    if uid:
        annotations[SA_UID_ANNOTATION] = uid
    return client.V1Secret(
        type=kind,
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=NS,
            labels=labels,
            annotations=annotations,
            creation_timestamp=created,
            deletion_timestamp=created if deleting else None,
        ),
    )


def account(*listed: str) -> client.V1ServiceAccount:
    return client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="old-app", namespace=NS, uid=SA_UID),
        secrets=[client.V1ObjectReference(name=n) for n in listed],
    )


def pod_with(**spec: object) -> client.V1Pod:
    containers = spec.pop("containers", [client.V1Container(name="main")])
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="p", namespace=NS),
        spec=client.V1PodSpec(containers=containers, **spec),
    )


def verdict(s: client.V1Secret, sa: client.V1ServiceAccount | None = None, **kw: object):
    options: dict = {"tracked_since": SINCE, "now": CREATED + 2 * YEAR + timedelta(days=3)}
    options |= kw
    pods = options.pop("pods", [])
    return cleaner_verdict(s, sa if sa is not None else account("old-app-token"), pods, **options)


# --- the steps of one pass -------------------------------------------------------------------
def test_waits_until_tracking_has_run_for_a_full_period() -> None:
    v = verdict(secret(), now=CREATED + YEAR)  # since + 1 year, but not since + 1 day + 1 year
    assert v.action == "wait"
    assert "2027-11-29 00:00Z" in v.reason


def test_a_short_period_still_waits_for_the_day_after_since() -> None:
    minute = timedelta(minutes=1)
    today = verdict(secret(created=CREATED), now=CREATED + timedelta(hours=2), period=minute)
    assert today.action == "wait"
    tomorrow = verdict(
        secret(created=CREATED), now=datetime(2026, 11, 29, 0, 2, tzinfo=UTC), period=minute
    )
    assert tomorrow == CleanerVerdict("invalidate", f"label {INVALID_SINCE_LABEL}=2026-11-29")


def test_young_secrets_are_kept() -> None:
    now = datetime(2027, 12, 1, tzinfo=UTC)
    assert verdict(secret(created=now - timedelta(days=10)), now=now).reason.startswith("created")


def test_used_within_the_period_is_kept() -> None:
    now = CREATED + 2 * YEAR
    recent = date_label(now - timedelta(days=30))
    assert verdict(secret(labels={LAST_USED_LABEL: recent}), now=now).action == "keep"


def test_unused_for_a_period_is_invalidated_then_deleted() -> None:
    now = CREATED + 2 * YEAR + timedelta(days=3)
    old_use = {LAST_USED_LABEL: "2027-01-01"}
    first = verdict(secret(labels=old_use), now=now)
    assert first.action == "invalidate"
    assert first.reason.endswith(date_label(now))
    marked = {**old_use, INVALID_SINCE_LABEL: date_label(now)}
    assert verdict(secret(labels=marked), now=now).action == "keep"
    later = now + YEAR + timedelta(days=1)
    assert verdict(secret(labels=marked), now=later).action == "delete"


def test_never_used_counts_as_unused() -> None:
    assert verdict(secret()).action == "invalidate"


def test_manual_secrets_are_never_touched() -> None:
    v = verdict(secret(), account())  # the ServiceAccount does not list it
    assert v == CleanerVerdict("keep", "not auto-generated (the ServiceAccount does not list it)")


def test_a_missing_or_replaced_service_account_means_not_auto_generated() -> None:
    s = secret()
    assert not references_each_other(s, None)
    other = account("old-app-token")
    other.metadata.uid = "another-uid"
    assert not references_each_other(s, other)
    assert references_each_other(secret(uid=None), other), "no UID annotation: name suffices"


def test_mounted_secrets_are_kept() -> None:
    volume = client.V1Volume(
        name="t", secret=client.V1SecretVolumeSource(secret_name="old-app-token")
    )
    v = verdict(secret(), pods=[pod_with(volumes=[volume])])
    assert v.reason == "mounted or referenced by a Pod"


def test_other_secrets_and_deletions_are_left_alone() -> None:
    assert verdict(secret(kind="Opaque")).action == "skip"
    assert verdict(secret(deleting=True)).reason == "already being deleted"
    assert verdict(secret(), tracked_since="not-a-date").action == "wait"
    assert verdict(secret(labels={LAST_USED_LABEL: "yesterday"})).action == "keep"


def test_tracked_since_may_be_a_date() -> None:
    assert verdict(secret(), tracked_since=date(2026, 11, 28)).action == "invalidate"


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verdict(secret(), now=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        verdict(secret(), period=timedelta(0))


# --- which Secrets do Pods use? ----------------------------------------------------------------
def test_secret_names_used_by_pods() -> None:
    env = client.V1EnvVar(
        name="X",
        value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name="from-env", key="k")
        ),
    )
    container = client.V1Container(
        name="c",
        env=[env],
        env_from=[client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="env-from"))],
    )
    projected = client.V1Volume(
        name="p",
        projected=client.V1ProjectedVolumeSource(
            sources=[
                client.V1VolumeProjection(secret=client.V1SecretProjection(name="projected")),
                client.V1VolumeProjection(
                    service_account_token=client.V1ServiceAccountTokenProjection(path="token")
                ),
            ]
        ),
    )
    pod = pod_with(
        containers=[container],
        init_containers=[client.V1Container(name="i", env=[env])],
        volumes=[projected],
        image_pull_secrets=[client.V1LocalObjectReference(name="pull")],
    )
    assert secret_names_used_by_pods([pod]) == {"from-env", "env-from", "projected", "pull"}


# --- small helpers -----------------------------------------------------------------------------
def test_date_label_is_utc() -> None:
    from datetime import timezone

    late_evening_in_new_york = datetime(2026, 11, 28, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert date_label(late_evening_in_new_york) == "2026-11-29"
    assert date_label(date(2026, 1, 2)) == "2026-01-02"


def test_invalidated_message_matches_the_api_server() -> None:
    message = invalidated_message(NS, "old-app-auto", "old-app")
    assert message.startswith(
        f"the token in secret {NS}/old-app-auto for service account {NS}/old-app "
        "has been marked invalid."
    )
    assert message.endswith("to temporarily allow use of this token")
    assert f"'{INVALID_SINCE_LABEL}'" in message


def test_verdict_text() -> None:
    assert str(CleanerVerdict("keep", "why")) == "keep: why"
