"""Legacy (Secret-based) tokens after the fact: wait for one, and see how the API server
tracks its use.

- :func:`wait_for_legacy_token` — the token the tokens controller writes into a
  ``kubernetes.io/service-account-token`` Secret you created (e.g. with ``kubectl apply``).
- :func:`wait_for_last_used` — the ``kubernetes.io/legacy-token-last-used`` label the API
  server puts on the Secret once its token has been used (a UTC date, ``YYYY-MM-DD``).
- :func:`tracking_since` — since when the API server has been tracking that
  (ConfigMap ``kube-system/kube-apiserver-legacy-service-account-token-tracking``).
- :func:`is_auto_generated` — whether the API server treats a token Secret as
  *auto-generated* (its ServiceAccount lists it under ``.secrets``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kubernetes import client

from .cluster.errors import ClusterError
from .cluster.waiting import get_or_none, poll_until
from .errors import translate_api_errors
from .tokens import Token

__all__ = [
    "DATE_FORMAT",
    "LAST_USED_LABEL",
    "TRACKING_CONFIGMAP",
    "is_auto_generated",
    "tracking_since",
    "wait_for_last_used",
    "wait_for_legacy_token",
]

#: The label the API server sets on a legacy token Secret each day its token is used.
LAST_USED_LABEL = "kubernetes.io/legacy-token-last-used"
#: ``(namespace, name)`` of the ConfigMap whose ``since`` says when tracking started.
TRACKING_CONFIGMAP = ("kube-system", "kube-apiserver-legacy-service-account-token-tracking")
#: The date format of the label and of ``since`` (UTC), e.g. ``2026-11-28``.
DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _poll_secret(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    timeout: float,
    interval: float,
    ready: Callable[[client.V1Secret], bool],
) -> client.V1Secret | None:
    """Read the Secret until ``ready(secret)`` is true; ``None`` after ``timeout``."""

    def read() -> client.V1Secret | None:
        secret = get_or_none(lambda: core.read_namespaced_secret(name, namespace))
        return secret if secret is not None and ready(secret) else None

    try:
        return poll_until(read, timeout=timeout, interval=interval)[0]
    except TimeoutError:
        return None


@translate_api_errors
def wait_for_legacy_token(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    timeout: float = 30,
    interval: float = 0.1,
) -> tuple[client.V1Secret, Token]:
    """Wait until the tokens controller has filled Secret ``name``; return it and its token.

    Raises:
        ClusterError: If the Secret has no ``data.token`` after ``timeout`` seconds.
    """
    secret = _poll_secret(
        core, namespace, name, timeout, interval, lambda s: bool((s.data or {}).get("token"))
    )
    if secret is None:
        raise ClusterError(
            f"Secret {namespace}/{name} got no token within {timeout:.0f}s: is it of type "
            "kubernetes.io/service-account-token, annotated with an existing "
            "ServiceAccount's name, and is kube-controller-manager running?"
        )
    return secret, Token.from_secret(secret)


@translate_api_errors
def wait_for_last_used(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    timeout: float = 10,
    interval: float = 0.2,
) -> str:
    """Wait until Secret ``name`` carries the last-used label; return its date (UTC).

    The API server patches the label asynchronously after a successful authentication
    with the Secret's token, so it appears a moment after the first use.

    Raises:
        ClusterError: If the label does not appear within ``timeout`` seconds.
    """
    secret = _poll_secret(
        core,
        namespace,
        name,
        timeout,
        interval,
        lambda s: LAST_USED_LABEL in (s.metadata.labels or {}),
    )
    if secret is None:
        raise ClusterError(
            f"Secret {namespace}/{name} has no {LAST_USED_LABEL} label after {timeout:.0f}s: "
            "was its token used successfully (with no client certificate alongside)?"
        )
    return secret.metadata.labels[LAST_USED_LABEL]


@translate_api_errors
def tracking_since(core: client.CoreV1Api) -> str:
    """The date (UTC) since which the API server tracks legacy token use."""
    namespace, name = TRACKING_CONFIGMAP
    return core.read_namespaced_config_map(name, namespace).data["since"]


def is_auto_generated(secret: client.V1Secret, service_account: client.V1ServiceAccount) -> bool:
    """True if the API server treats ``secret`` as an auto-generated token Secret.

    That is the case when the ServiceAccount lists the Secret under ``.secrets`` (as every
    ServiceAccount did before 1.24); a Secret you create yourself is never added there.

    >>> sa = client.V1ServiceAccount(secrets=[client.V1ObjectReference(name="a-token")])
    >>> is_auto_generated(client.V1Secret(metadata=client.V1ObjectMeta(name="a-token")), sa)
    True
    >>> is_auto_generated(client.V1Secret(metadata=client.V1ObjectMeta(name="mine")), sa)
    False
    """
    names = {ref.name for ref in service_account.secrets or []}
    return secret.metadata.name in names
