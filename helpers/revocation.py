"""Watch a token stop working after its Secret, Pod or bound object is deleted.

kube-apiserver remembers a *successful* token authentication for 10 seconds (its token
cache; failures are not cached). The 10 seconds count from the check that found the
token valid, not from the last use: so a token whose Secret or Pod was just deleted may
still be accepted for up to 10 seconds, then is rejected for good.
:func:`wait_until_rejected` asks the API server (TokenReview) until it says no.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from .cluster.errors import ClusterError
from .cluster.waiting import poll_until
from .display import fold
from .reviews import review_token
from .tokens import Token

__all__ = ["AUTH_CACHE_TTL_SECONDS", "Rejection", "wait_until_rejected"]

#: How long kube-apiserver caches a successful token authentication (its default).
AUTH_CACHE_TTL_SECONDS = 10


@dataclass(frozen=True)
class Rejection:
    """The first TokenReview that rejected the token, and how long we waited for it.

    Attributes:
        status: The TokenReview status (``authenticated`` false, ``error`` set).
        seconds: Seconds from the start of the wait until the rejection.
        accepted_reviews: How many reviews still accepted the token before that.
    """

    status: client.V1TokenReviewStatus
    seconds: float
    accepted_reviews: int

    @property
    def error(self) -> str:
        """The API server's reason, e.g. ``[invalid bearer token, Token has been invalidated]``."""
        return self.status.error or ""

    def __repr__(self) -> str:
        return (
            f"Rejected after {self.seconds:.1f} s ({self.accepted_reviews} review(s) still "
            f"accepted it before): {self.error}"
        )

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows it wrapped between words (the server's reason can be long)."""
        printer.text(fold(repr(self)))


def wait_until_rejected(
    authn: client.AuthenticationV1Api,
    token: Token | str,
    audiences: Sequence[str] | None = None,
    *,
    timeout: float = AUTH_CACHE_TTL_SECONDS + 5,
    interval: float = 0.25,
) -> Rejection:
    """Review ``token`` every ``interval`` seconds until the API server rejects it.

    Raises:
        ClusterError: If the token is still accepted after ``timeout`` seconds.
    """
    accepted = [0]

    def rejected() -> object:
        status = review_token(authn, token, audiences)
        if status.authenticated:
            accepted[0] += 1
            return None
        return status

    status, seconds = poll_until(
        rejected,
        timeout=timeout,
        interval=interval,
        what="the API server to reject the token (its Secret, Pod or bound object may "
        "still exist, or its deletion is still pending)",
        error=ClusterError,
    )
    return Rejection(status, seconds, accepted[0])
