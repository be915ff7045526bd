"""The authentication configuration both course clusters run with: anonymous on a few paths.

kube-apiserver authenticates a request without credentials as ``system:anonymous`` unless
told otherwise, and then only RBAC stands between it and the cluster: one binding to
``system:anonymous`` (or ``system:unauthenticated``) opens everything to everyone who
can reach the port. The course's clusters therefore accept anonymous requests only where
something must reach them without a credential — the health endpoints (the kubelet's
probes of kind's kube-apiserver) — and the two issuer-discovery documents, which notebook
08 asks for anonymously to show RBAC refusing them. Everywhere else: 401.

The ``anonymous`` section of an AuthenticationConfiguration (``--authentication-config``)
is on by default from 1.32 (``AnonymousAuthConfigurableEndpoints``, beta) and GA in 1.34;
the file's ``apiserver.config.k8s.io/v1`` is served from 1.34, ``v1beta1`` before.

    >>> import yaml
    >>> doc = yaml.safe_load(configuration("1.37.2"))
    >>> doc["apiVersion"], doc["anonymous"]["enabled"], len(doc["anonymous"]["conditions"])
    ('apiserver.config.k8s.io/v1', True, 5)
    >>> yaml.safe_load(configuration("1.33.13"))["apiVersion"]
    'apiserver.config.k8s.io/v1beta1'
"""

from __future__ import annotations

import yaml

__all__ = ["ANONYMOUS_PATHS", "FILE_NAME", "api_version", "configuration"]

#: Where a request without credentials is still authenticated (as ``system:anonymous``).
ANONYMOUS_PATHS = (
    "/livez",
    "/readyz",
    "/healthz",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
)
FILE_NAME = "authentication-config.yaml"


def api_version(kubernetes_version: str) -> str:
    """The AuthenticationConfiguration API a kube-apiserver of that version reads."""
    major, minor = (int(x) for x in kubernetes_version.lstrip("v").split(".")[:2])
    return (
        "apiserver.config.k8s.io/v1"
        if (major, minor) >= (1, 34)
        else ("apiserver.config.k8s.io/v1beta1")
    )


def configuration(kubernetes_version: str) -> str:
    """The file ``--authentication-config`` names (no JWT authenticators: none is needed)."""
    doc = {
        "apiVersion": api_version(kubernetes_version),
        "kind": "AuthenticationConfiguration",
        "anonymous": {
            "enabled": True,
            "conditions": [{"path": p} for p in ANONYMOUS_PATHS],
        },
    }
    return (
        "# The course's authentication configuration: anonymous requests are authenticated\n"
        "# only on these paths (health, issuer discovery); everywhere else they get 401.\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
