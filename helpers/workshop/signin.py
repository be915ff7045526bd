"""Sign-in codes for a classroom in the browser: what the hub of issue 22 checks.

A learner signs in with a code the instructor hands out. The code is itself a lesson of the
course: a TokenRequest token of the learner's ``learner`` ServiceAccount made out to the
hub's own audience (:data:`HUB_AUDIENCE`), bound to the learner's anchor Secret and
expiring with the workshop. The hub asks the API server about it with a TokenReview for
that audience, so

- the code is useless against the API server itself (a different audience: 401);
- ``cut-off`` and ``reset`` kill it with the learner's kubeconfig, by deleting the anchor;
- the hub knows which learner it is from the API server's answer, never from the code's
  own claims; and it remembers each code's ``jti`` (the token's unique ID, which the API
  server adds to every ServiceAccount token), so that a code signs in once.

A refused code gets one plain sentence and nothing else (:class:`Refused`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubernetes import client

from ..accounts import create_token
from ..errors import translate_api_errors
from ..reviews import review_token
from ..tokens import Token, decode_claims
from .policy import HOME, LEARNER

__all__ = ["HUB_AUDIENCE", "Refused", "SignIn", "issue_code"]

#: The audience of sign-in codes: the hub's name, never the API server's.
HUB_AUDIENCE = "https://hub.sa-course.test"
#: What every refusal says: which code was wrong is nobody's business but the instructor's.
NOT_VALID = "This sign-in code is not valid: ask your instructor for yours."
USED = "This sign-in code was used already: ask your instructor for a new one."


class Refused(Exception):
    """A code the hub turns away; ``str()`` is the one sentence the learner sees."""


def issue_code(
    core: client.CoreV1Api, prefix: str, duration_seconds: int, anchor: str = "learner-anchor"
) -> tuple[Token, client.V1TokenRequestStatus]:
    """A sign-in code for learner ``prefix``: ``learner``'s token for the hub, bound to the
    anchor Secret of ``<prefix>-home``, valid ``duration_seconds`` (at least 600)."""
    home = f"{prefix}-{HOME}"
    with translate_api_errors():
        secret = core.read_namespaced_secret(anchor, home)
    return create_token(
        core,
        home,
        LEARNER,
        audiences=[HUB_AUDIENCE],
        expiration_seconds=duration_seconds,
        bound_to=secret,
    )


@dataclass
class SignIn:
    """The hub's check of sign-in codes, for the learners of one workshop.

    ``authn`` is the hub's own identity (it needs ``create tokenreviews``, nothing else);
    ``learners`` the workshop's prefixes (from its roster).
    """

    authn: client.AuthenticationV1Api
    learners: Iterable[str]
    audience: str = HUB_AUDIENCE
    _used: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, code: str) -> str:
        """The prefix of the learner ``code`` signs in; :class:`Refused` otherwise."""
        code = code.strip()
        if code.count(".") != 2:
            raise Refused(NOT_VALID)
        with translate_api_errors():
            status = review_token(self.authn, code, audiences=[self.audience])
        if not status.authenticated or self.audience not in (status.audiences or []):
            raise Refused(NOT_VALID)
        prefix = self._learner(status.user.username if status.user else "")
        jti = str(decode_claims(code).get("jti") or "")  # the API server vouched for it
        if not jti:
            raise Refused(NOT_VALID)
        with self._lock:
            if jti in self._used:
                raise Refused(USED)
            self._used.add(jti)
        return prefix

    def _learner(self, username: str) -> str:
        """The prefix of ``system:serviceaccount:<prefix>-home:learner``, if on the roster."""
        for prefix in self.learners:
            if username == f"system:serviceaccount:{prefix}-{HOME}:{LEARNER}":
                return prefix
        raise Refused(NOT_VALID)
