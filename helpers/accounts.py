"""ServiceAccounts and their tokens: create an account, a legacy token Secret, a bound token.

- :func:`create_service_account` — ``kubectl create serviceaccount``.
- :func:`create_legacy_token` — a ``kubernetes.io/service-account-token`` Secret, returned
  once the tokens controller has filled it in.
- :func:`create_token` — the TokenRequest API (``kubectl create token``), optionally bound
  to a Pod, a Secret or a Node.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster.errors import ClusterError
from .cluster.waiting import get_or_none, poll_until
from .errors import translate_api_errors
from .legacy import wait_for_legacy_token
from .tokens import Token

__all__ = [
    "LEGACY_SECRET_TYPE",
    "SA_NAME_ANNOTATION",
    "create_legacy_token",
    "create_service_account",
    "create_token",
    "legacy_token_secret",
    "wait_for_service_account",
]

#: The Secret type the tokens controller fills with a legacy token.
LEGACY_SECRET_TYPE = "kubernetes.io/service-account-token"
#: The annotation that names the ServiceAccount a legacy token Secret is for.
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"


@translate_api_errors
def create_service_account(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    *,
    automount: bool | None = None,
    exist_ok: bool = True,
) -> client.V1ServiceAccount:
    """Create ServiceAccount ``name`` (or return the existing one when ``exist_ok``)."""
    body = client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=name), automount_service_account_token=automount
    )
    try:
        return core.create_namespaced_service_account(namespace, body)
    except ApiException as exc:
        if exc.status == 409 and exist_ok:
            return core.read_namespaced_service_account(name, namespace)
        raise


def wait_for_service_account(
    core: client.CoreV1Api, namespace: str, name: str = "default", timeout: float = 30
) -> client.V1ServiceAccount:
    """Wait until a ServiceAccount exists (``default`` appears a moment after its namespace)."""
    account, _ = poll_until(
        lambda: get_or_none(lambda: core.read_namespaced_service_account(name, namespace)),
        timeout=timeout,
        interval=0.1,
        what=f"the ServiceAccount {namespace}/{name}",
        error=ClusterError,
    )
    return account


def legacy_token_secret(name: str, service_account: str) -> dict[str, object]:
    """The manifest of an (empty) legacy token Secret for ``service_account``.

    >>> legacy_token_secret("app-token", "app")["type"]
    'kubernetes.io/service-account-token'
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": LEGACY_SECRET_TYPE,
        "metadata": {"name": name, "annotations": {SA_NAME_ANNOTATION: service_account}},
    }


@translate_api_errors
def create_legacy_token(
    core: client.CoreV1Api,
    namespace: str,
    service_account: str,
    secret_name: str | None = None,
    timeout: float = 30,
) -> tuple[client.V1Secret, Token]:
    """Create a legacy token Secret for ``service_account`` and wait for its token.

    Since Kubernetes 1.24 nobody creates these for you: you create an empty Secret of type
    ``kubernetes.io/service-account-token`` annotated with the ServiceAccount's name, and
    the tokens controller (in kube-controller-manager) fills in ``token``, ``ca.crt`` and
    ``namespace``.
    """
    name = secret_name or f"{service_account}-token"
    body = legacy_token_secret(name, service_account)
    core.create_namespaced_secret(namespace, body)
    return wait_for_legacy_token(core, namespace, name, timeout=timeout)


@translate_api_errors
def create_token(
    core: client.CoreV1Api,
    namespace: str,
    service_account: str,
    *,
    audiences: Sequence[str] | None = None,
    expiration_seconds: int | None = None,
    bound_to: client.V1Pod | client.V1Secret | client.V1Node | None = None,
) -> tuple[Token, client.V1TokenRequestStatus]:
    """Ask the TokenRequest API for a bound token, as ``kubectl create token`` does.

    Without ``audiences`` the token is for the API server's own audiences; without
    ``expiration_seconds`` it lives one hour (the minimum is 600 s). ``bound_to`` ties it
    to a Pod, Secret or Node: deleting that object invalidates the token.
    """
    ref = None
    if bound_to is not None:
        kind = type(bound_to).__name__.removeprefix("V1")
        ref = client.V1BoundObjectReference(
            api_version="v1", kind=kind, name=bound_to.metadata.name, uid=bound_to.metadata.uid
        )
    spec = client.V1TokenRequestSpec(
        audiences=list(audiences) if audiences else [],
        expiration_seconds=expiration_seconds,
        bound_object_ref=ref,
    )
    request = client.AuthenticationV1TokenRequest(spec=spec)
    status = core.create_namespaced_service_account_token(
        service_account, namespace, request
    ).status
    return Token(status.token), status
