"""Before a workshop: can this cluster host it, and does a learner's kubeconfig work?

Each check is one line: ``ok`` (True, False, or None for "for your information") and what
it found. ``python -m helpers.workshop preflight [--learners N]`` runs the instructor's;
``--learner-kubeconfig FILE`` runs a learner's.
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .. import facts, names, preflight
from ..cluster.config import TOOLS_IMAGE
from ..cluster.errors import ClusterError
from ..course import Course, with_timeouts
from ..preflight import ANY_NAMESPACE
from . import shares

__all__ = ["Line", "instructor", "learner", "print_lines"]

#: Bindings every cluster has that name everyone (the API server's own defaults).
DEFAULT_EVERYONE = {
    "system:basic-user",
    "system:discovery",
    "system:public-info-viewer",
    "system:service-account-issuer-discovery",
    # from the ClusterTrustBundle feature (on by default from 1.37): read trust bundles
    "system:cluster-trust-bundle-discovery",
}
EVERYONE = {"system:serviceaccounts", "system:authenticated", "system:unauthenticated"}
IMAGES = (TOOLS_IMAGE, "busybox:1.35")


@dataclass(frozen=True)
class Line:
    ok: bool | None
    text: str


def _check(what: str, fn: Callable[[], Line]) -> Line:
    try:
        return fn()
    except ApiException as exc:
        return Line(False, f"{what}: the API server answered {exc.status} {exc.reason}")
    except Exception as exc:  # one line per check, whatever went wrong
        return Line(False, f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


def instructor(admin: Course, learners: int) -> list[Line]:
    """The instructor's checks, as the cluster's administrator."""

    def version() -> Line:
        v = admin.version()
        least = ".".join(map(str, facts.MIN_KUBERNETES))
        return Line(True, f"Kubernetes {v} (the course needs {least} or newer)")

    def lifetime() -> Line:
        seconds = facts.max_token_seconds(admin, "default")
        capped = seconds < 2**32
        return Line(
            True,
            "longest token the API server grants: "
            + (
                f"{seconds / 3600:.1f} h (capped): the workshop's tokens live at most that long"
                if capped
                else "not capped (--service-account-max-token-expiration unset)"
            ),
        )

    def capacity() -> Line:
        cap = shares.capacity(admin.core)
        try:
            share = shares.shares(cap, learners)
        except ClusterError as exc:
            return Line(False, f"capacity: {exc}")
        return Line(
            True,
            f"capacity: {cap.nodes} node(s), room for {cap.pods} more Pods; {share.describe()}",
        )

    def anonymous() -> Line:
        status = _anonymous_status(admin, "/api")
        wide = status != 401
        return Line(
            not wide,
            "anonymous requests: refused outside the health and discovery endpoints (401)"
            if not wide
            else f"anonymous requests are authenticated beyond the health endpoints (GET /api "
            f"answers {status}): one binding to system:anonymous or system:unauthenticated "
            "would open the cluster to anyone who reaches it; limit anonymous auth "
            "(--anonymous-auth=false, or an AuthenticationConfiguration's anonymous.conditions)",
        )

    def images() -> Line:
        nodes = admin.core.list_node().items
        missing = []
        for node in nodes:
            have = {n for img in node.status.images or [] for n in img.names or []}
            for image in IMAGES:
                if not any(h.endswith(image) or h.endswith(f"/{image}") for h in have):
                    missing.append(f"{image} on {node.metadata.name}")
        return Line(
            not missing,
            "images on the nodes: all present"
            if not missing
            else f"images missing (learners' Pods would pull them): {', '.join(missing)}",
        )

    def everyone() -> Line:
        found = []
        for crb in admin.rbac.list_cluster_role_binding().items:
            # a bootstrap binding, or another binding of a role every account already holds
            # through one (notebook 17 binds the issuer-discovery role to unauthenticated
            # callers for a while): neither adds a right a learner lacks
            if crb.metadata.name in DEFAULT_EVERYONE or crb.role_ref.name in DEFAULT_EVERYONE:
                continue
            groups = {s.name for s in crb.subjects or [] if s.kind == "Group"}
            if groups & EVERYONE:
                found.append(f"{crb.metadata.name} → {crb.role_ref.name}")
        return Line(
            not found,
            "no binding gives every ServiceAccount extra rights"
            if not found
            else "these bindings give every ServiceAccount (every learner) extra rights: "
            + "; ".join(found),
        )

    def admission() -> Line:
        api = client.AdmissionregistrationV1Api(admin.api)
        api.list_validating_admission_policy(limit=1)
        return Line(True, "ValidatingAdmissionPolicy is served (it keeps learners apart)")

    checks = {
        "version": version,
        "token lifetime": lifetime,
        "capacity": capacity,
        "anonymous": anonymous,
        "images": images,
        "bindings": everyone,
        "admission policy": admission,
    }
    return [_check(what, fn) for what, fn in checks.items()]


def _anonymous_status(admin: Course, path: str) -> int:
    """The HTTP status of a GET of ``path`` with no credential at all."""
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=admin.api.configuration.ssl_ca_cert)
    try:
        with urllib.request.urlopen(admin.server + path, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def learner(kubeconfig: str | Path) -> list[Line]:
    """A learner's checks, with their kubeconfig only."""
    path = Path(kubeconfig).expanduser()
    prefix = names.prefix_of_kubeconfig(path)
    try:
        api = with_timeouts(config.new_client_from_config(config_file=str(path)))
    except Exception as exc:
        return [Line(False, f"kubeconfig {path} cannot be used: {exc}")]
    lines = [Line(None, f"prefix {prefix or '(none)'} from {path}")]

    def answers() -> Line:
        started = time.monotonic()
        _, _, headers = client.VersionApi(api).get_code_with_http_info(_request_timeout=10)
        took = time.monotonic() - started
        skew = time.time() - email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
        lines.append(
            Line(
                abs(skew) < 30,
                f"clock skew with the API server: {skew:+.1f} s (tokens "
                "carry times: more than a few seconds breaks nbf/exp checks)",
            )
        )
        return Line(True, f"the API server answers at {api.configuration.host} ({took:.2f} s)")

    lines.insert(1, _check("API server", answers))

    def permissions() -> Line:
        needs = [n for n in preflight.localized(prefix=prefix) if n.scope != ANY_NAMESPACE]
        missing = preflight.missing_permissions(api, needs)
        return Line(
            not missing,
            f"all {len(needs)} permissions the course needs"
            if not missing
            else f"{len(missing)} permissions missing, e.g. {missing[0].phrase}",
        )

    lines.append(_check("permissions", permissions))
    return lines


def print_lines(lines: list[Line]) -> int:
    """Print the lines with ✓ / ✗ / ·; exit status 1 if any check failed."""
    for line in lines:
        mark = {True: "✓", False: "✗", None: "·"}[line.ok]
        print(f"{mark} {line.text}", file=sys.stdout)
    return 1 if any(line.ok is False for line in lines) else 0
