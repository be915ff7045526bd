"""Unit tests for helpers.legacy and helpers.revocation: fake API objects, no cluster."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers.cluster.errors import ClusterError
from helpers.errors import Forbidden
from helpers.legacy import (
    DATE_FORMAT,
    LAST_USED_LABEL,
    TRACKING_CONFIGMAP,
    is_auto_generated,
    tracking_since,
    wait_for_last_used,
    wait_for_legacy_token,
)
from helpers.revocation import AUTH_CACHE_TTL_SECONDS, Rejection, wait_until_rejected
from helpers.tokens import Token


def secret(name: str, token: str | None = None, labels: dict[str, str] | None = None):
    data = {"token": base64.b64encode(token.encode()).decode()} if token else None
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


class FakeCore:
    """Answers read_namespaced_secret with the next of ``answers`` (an exception is raised)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.reads = 0

    def read_namespaced_secret(self, name: str, namespace: str) -> client.V1Secret:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def read_namespaced_config_map(self, name: str, namespace: str) -> client.V1ConfigMap:
        assert (namespace, name) == TRACKING_CONFIGMAP
        return client.V1ConfigMap(data={"since": "2026-11-28"})


class FakeAuthn:
    """A TokenReview API that accepts the token ``accept`` times, then rejects it."""

    def __init__(
        self, accept: int, error: str = "[invalid bearer token, Token has been invalidated]"
    ):
        self.accept = accept
        self.error = error
        self.reviews: list[client.V1TokenReview] = []

    def create_token_review(self, body: client.V1TokenReview) -> client.V1TokenReview:
        self.reviews.append(body)
        if len(self.reviews) <= self.accept:
            status = client.V1TokenReviewStatus(authenticated=True)
        else:
            status = client.V1TokenReviewStatus(error=self.error)
        return client.V1TokenReview(spec=body.spec, status=status)


def not_found() -> ApiException:
    return ApiException(status=404, reason="Not Found")


# -- helpers.legacy -------------------------------------------------------------------------


def test_wait_for_legacy_token_waits_for_the_controller(legacy_token: str) -> None:
    core = FakeCore(not_found(), secret("s"), secret("s", legacy_token))
    found, token = wait_for_legacy_token(core, "ns", "s", timeout=5, interval=0)
    assert isinstance(token, Token) and token.reveal() == legacy_token
    assert found.metadata.name == "s" and core.reads == 3


def test_wait_for_legacy_token_gives_up_with_one_sentence() -> None:
    core = FakeCore(secret("s"))
    with pytest.raises(ClusterError, match="got no token within 0s"):
        wait_for_legacy_token(core, "ns", "s", timeout=0, interval=0)


def test_wait_for_legacy_token_translates_api_errors() -> None:
    core = FakeCore(ApiException(status=403, reason="Forbidden"))
    with pytest.raises(Forbidden):
        wait_for_legacy_token(core, "ns", "s", timeout=1, interval=0)


def test_wait_for_last_used_returns_the_label() -> None:
    core = FakeCore(secret("s"), secret("s", labels={LAST_USED_LABEL: "2026-11-28"}))
    assert wait_for_last_used(core, "ns", "s", timeout=5, interval=0) == "2026-11-28"


def test_wait_for_last_used_gives_up_with_one_sentence() -> None:
    with pytest.raises(ClusterError, match="was its token used"):
        wait_for_last_used(FakeCore(secret("s")), "ns", "s", timeout=0, interval=0)


def test_tracking_since_reads_the_configmap() -> None:
    since = tracking_since(FakeCore(secret("unused")))
    assert since == "2026-11-28" and DATE_FORMAT.match(since)


def test_date_format() -> None:
    assert DATE_FORMAT.match("2026-11-28")
    assert not DATE_FORMAT.match("2026-11-28T09:00:00Z")


def test_is_auto_generated() -> None:
    listed = client.V1ServiceAccount(secrets=[client.V1ObjectReference(name="a-token-x1")])
    assert is_auto_generated(secret("a-token-x1"), listed)
    assert not is_auto_generated(secret("mine"), listed)
    assert not is_auto_generated(secret("mine"), client.V1ServiceAccount())


# -- helpers.revocation ---------------------------------------------------------------------


def test_wait_until_rejected_counts_accepted_reviews(legacy_token: str) -> None:
    authn = FakeAuthn(accept=3)
    result = wait_until_rejected(authn, Token(legacy_token), interval=0)
    assert isinstance(result, Rejection)
    assert result.accepted_reviews == 3 and len(authn.reviews) == 4
    assert "Token has been invalidated" in result.error
    assert authn.reviews[0].spec.token == legacy_token  # the raw token is what gets reviewed
    assert legacy_token not in repr(result)
    assert repr(result).startswith("Rejected after ")


def test_wait_until_rejected_passes_audiences(bound_token: str) -> None:
    authn = FakeAuthn(accept=0)
    wait_until_rejected(authn, bound_token, ["vault"], interval=0)
    assert authn.reviews[0].spec.audiences == ["vault"]


def test_wait_until_rejected_gives_up(bound_token: str) -> None:
    with pytest.raises(ClusterError, match="for the API server to reject the token"):
        wait_until_rejected(FakeAuthn(accept=10**6), bound_token, timeout=0, interval=0)


def test_default_timeout_covers_the_cache() -> None:
    assert AUTH_CACHE_TTL_SECONDS == 10
    assert wait_until_rejected.__kwdefaults__["timeout"] > AUTH_CACHE_TTL_SECONDS
