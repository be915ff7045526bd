"""A partner cluster: a second API server that trusts the course cluster's ServiceAccounts.

Notebook 17 configures it and calls it from a Pod. This module only starts and stops it,
hands back an admin client for *its* API, and writes the AuthenticationConfiguration a
notebook cell builds (the object itself stays in the notebook, where it is taught):

    >>> print(to_yaml({"kind": "AuthenticationConfiguration", "jwt": []}))
    kind: AuthenticationConfiguration
    jwt: []
    <BLANKLINE>

Where the course cluster's backend cannot run one (kind, an existing cluster, a workshop
learner), :func:`partner_for` returns None and one sentence saying why.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from .cluster.errors import ClusterError
from .cluster.locks import file_lock
from .cluster.partner import ISSUER, Partner, PartnerServer, unavailable_reason
from .cluster.waiting import get_or_none, poll_until
from .course import Course, with_timeouts
from .names import cluster_scoped
from .oidc import ca_from_kubeconfig, http_get, ssl_context
from .tokens import Token

__all__ = [
    "ISSUER",
    "PartnerCluster",
    "partner_for",
    "public_discovery_binding",
    "public_issuer_keys",
    "to_yaml",
    "trusting_partner",
]

#: The ClusterRole that allows GET on the two issuer documents (bootstrap RBAC).
DISCOVERY_ROLE = "system:service-account-issuer-discovery"


def to_yaml(doc: dict[str, Any]) -> str:
    """The file kube-apiserver reads: the document as YAML, keys in the order written."""
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class PartnerCluster:
    """The running partner API server, as its own administrator (not the course's) sees it."""

    server: PartnerServer
    info: Partner
    reload_seconds: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where it answers: the node's bridge address, so Pods reach it too."""
        return self.info.url

    @property
    def ca_pem(self) -> str:
        """Its own CA: what a caller trusts to know it talks to *this* server."""
        return self.info.ca_pem.decode()

    @property
    def kubeconfig(self) -> Path:
        return self.info.kubeconfig

    @cached_property
    def api(self) -> client.ApiClient:
        """An admin client (system:masters of the partner's CA), with the course's timeouts."""
        return with_timeouts(config.new_client_from_config(config_file=str(self.info.kubeconfig)))

    @cached_property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api)

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def client_for_token(self, token: Token | str) -> client.ApiClient:
        """A client of the partner that authenticates with ``token`` only (trusting its CA)."""
        cfg = client.Configuration()
        cfg.host = self.url
        cfg.ssl_ca_cert = str(self.server.home / "pki" / "ca.crt")
        cfg.api_key = {"authorization": token.reveal() if isinstance(token, Token) else token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return with_timeouts(client.ApiClient(cfg))

    def version(self) -> str:
        return client.VersionApi(self.api).get_code().git_version

    def configure(self, authentication_config: dict[str, Any]) -> float:
        """Write a new AuthenticationConfiguration; wait until the server reloaded it (seconds)."""
        seconds = self.server.configure(to_yaml(authentication_config))
        self.reload_seconds.append(seconds)
        return seconds

    def reloads(self) -> dict[str, float]:
        """Its reload counter, by outcome (``success``, ``failure``), from its /metrics."""
        return self.server.reloads()

    def running(self) -> bool:
        return self.server.running()

    def last_complaint(self) -> str:
        """Its log's last line about its configuration or its issuers (for error messages)."""
        return self.server.last_complaint()

    def stop(self) -> None:
        """Stop it and remove its keys, data and logs."""
        self.server.down()


def partner_for(
    course: Course, authentication_config: dict[str, Any]
) -> tuple[PartnerCluster | None, str]:
    """Start a fresh partner beside ``course``'s cluster (stopping one left by an earlier run).

    Returns (the partner, '') or, where this backend cannot run one, (None, why).
    """
    why = unavailable_reason(course.backend)
    if why:
        return None, why
    server = PartnerServer()
    return PartnerCluster(server, server.up(to_yaml(authentication_config))), ""


def public_discovery_binding() -> dict[str, Any]:
    """The ClusterRoleBinding that lets anyone, without credentials, read the issuer's keys."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": cluster_scoped("public-issuer-discovery")},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": DISCOVERY_ROLE,
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "system:unauthenticated",
            }
        ],
    }


@contextlib.contextmanager
def public_issuer_keys(course: Course) -> Iterator[str]:
    """Make the issuer's discovery document and JWKS anonymously readable while the block runs.

    Yields the ``jwks_uri``, readable without credentials (waited for: RBAC's cache); the
    binding is deleted afterwards, also when the block fails.
    """
    binding = public_discovery_binding()
    name = binding["metadata"]["name"]
    jwks_uri = json.loads(course.get_raw("/.well-known/openid-configuration"))["jwks_uri"]
    tls = ssl_context(ca_from_kubeconfig(course.kubeconfig))
    if get_or_none(lambda: course.rbac.read_cluster_role_binding(name)):
        course.rbac.replace_cluster_role_binding(name, binding)
    else:
        course.rbac.create_cluster_role_binding(binding)
    try:
        poll_until(
            lambda: http_get(jwks_uri, context=tls, check=False).status == 200,
            timeout=15,
            what="the issuer's keys to be readable without credentials",
        )
        yield jwks_uri
    finally:
        with contextlib.suppress(Exception):
            course.rbac.delete_cluster_role_binding(name)


@contextlib.contextmanager
def trusting_partner(
    course: Course, authentication_config: dict[str, Any]
) -> Iterator[PartnerCluster]:
    """A fresh partner with ``authentication_config`` for the block's length, keys public.

    One at a time on this machine (a lock): the partner has fixed ports. Afterwards the
    partner is stopped and the issuer's keys are private again.
    """
    why = unavailable_reason(course.backend)
    if why:
        raise ClusterError(f"No partner API server here: {why}.")
    server = PartnerServer()
    lock = server.layout.cache / "locks" / "partner-session.lock"
    with file_lock(lock, "using the partner"), public_issuer_keys(course):
        partner = PartnerCluster(server, server.up(to_yaml(authentication_config)))
        try:
            yield partner
        finally:
            partner.stop()
