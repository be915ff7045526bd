"""Set up, inspect, reset, extend and tear down a workshop's learners on one cluster.

The instructor runs these as the cluster's administrator (``connect()`` of the backend in
use). Each learner gets (all labelled ``workshop.sa-course.io/name=<workshop>``):

- ``<prefix>-home``: the ServiceAccount ``learner`` and the Secret ``learner-anchor``. The
  learner holds no right there, so cannot mint tokens for ``learner`` nor touch the anchor;
- the course's namespaces under the prefix (``ws1-07-controller-ns`` …), each with the
  RoleBinding that grants the course's namespaced needs, a quota and default limits, and
  Pod Security ``baseline``;
- a ClusterRole and ClusterRoleBinding with the course's cluster-scoped needs, by name;
- a kubeconfig whose credential is a TokenRequest token of ``learner``, bound to the
  anchor Secret (delete the anchor: that learner's token is dead within seconds) and
  expiring with the workshop.

One ValidatingAdmissionPolicy (:func:`helpers.workshop.policy.admission_policy`) keeps the
learners apart; RBAC's escalation check keeps them from granting more than they hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from .. import names
from ..accounts import create_token
from ..cluster.config import cache_dir
from ..cluster.errors import ClusterError
from ..cluster.progress import Progress
from ..course import Course
from ..namespaces import empty
from ..tokens import Token
from . import kubeconfigs, policy
from .policy import HOME, LABEL_LEARNER, LABEL_WORKSHOP, LEARNER

__all__ = [
    "ANCHOR",
    "Learner",
    "Workshop",
    "directory",
]

#: The Secret in ``<prefix>-home`` that every token of the learner is bound to.
ANCHOR = "learner-anchor"
FIELD_MANAGER = "sa-course-workshop"


def directory(workshop: str) -> Path:
    """Where the learners' kubeconfigs are written (outside the repository; 0600 files)."""
    return cache_dir() / "workshop" / workshop


@dataclass
class Learner:
    """One learner as handed out: prefix, kubeconfig file, the token's real expiry."""

    prefix: str
    kubeconfig: Path
    expires: datetime


class Workshop:
    """The workshop ``name`` on the cluster of ``admin`` (a Course as cluster administrator)."""

    def __init__(
        self,
        admin: Course,
        name: str = "ws1",
        progress: Progress | None = None,
        server: str = "",
    ):
        names.valid_prefix(f"{name}-00")
        self.admin = admin
        #: The API server URL the learners' kubeconfigs name: ``server``, else the local
        #: cluster's LAN address if it has one (``COURSE_LAN_ADDRESS``), else the admin's.
        self.server = server or _lan_url(admin) or admin.server
        self.name = name
        self.progress = progress or Progress()
        self.dir = directory(name)
        self._dyn: DynamicClient | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def dynamic(self) -> DynamicClient:
        if self._dyn is None:
            self._dyn = DynamicClient(self.admin.api)
        return self._dyn

    def _apply(self, doc: dict[str, Any]) -> None:
        """Server-side apply one object as the workshop's field manager."""
        resource = self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(
            body=doc,
            name=doc["metadata"]["name"],
            namespace=doc["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )

    def prefixes(self, learners: int) -> list[str]:
        return [policy.learner_prefix(self.name, i) for i in range(1, learners + 1)]

    def existing(self) -> list[str]:
        """The prefixes of this workshop's learners on the cluster, from their home namespaces."""
        found = self.admin.core.list_namespace(
            label_selector=f"{LABEL_WORKSHOP}={self.name},{LABEL_LEARNER}"
        ).items
        return sorted(
            {
                n.metadata.labels[LABEL_LEARNER]
                for n in found
                if n.metadata.name.endswith(f"-{HOME}") and n.status.phase != "Terminating"
            }
        )

    # -- up ---------------------------------------------------------------------------------
    def up(self, learners: int, duration_seconds: int, pods: int = 15) -> list[Learner]:
        """Create (or bring up to date) ``learners`` learners; write their kubeconfigs."""
        if not 1 <= learners <= 99:
            raise ClusterError("A workshop has 1 to 99 learners: pick --learners in that range.")
        self.wait_namespaces_gone(terminating_only=True)  # one of this name, still going away
        with self.progress.stage(f"workshop {self.name}: shared role and admission policy"):
            self._apply(policy.namespaced_role(self.name))
            length = len(policy.learner_prefix(self.name, 1))
            for doc in policy.admission_policy(self.name, length):
                self._apply(doc)
        out: list[Learner] = []
        with self.progress.stage(f"workshop {self.name}: {learners} learners"):
            for prefix in self.prefixes(learners):
                started = time.monotonic()
                self._provision(prefix, pods)
                out.append(self._hand_out(prefix, duration_seconds))
                self.progress.say(
                    f"  {prefix}: ready in {time.monotonic() - started:.1f}s, token until "
                    f"{out[-1].expires:%Y-%m-%d %H:%M} UTC → {out[-1].kubeconfig}"
                )
        return out

    def _provision(self, prefix: str, pods: int) -> None:
        home = f"{prefix}-{HOME}"
        docs: list[dict[str, Any]] = [policy.namespace(self.name, prefix, home)]
        for base in policy.precreated():
            ns = names.ns(base, prefix)
            docs.append(policy.namespace(self.name, prefix, ns))
            docs.append(policy.namespace_binding(self.name, prefix, ns))
            docs.extend(policy.quota(self.name, prefix, ns, pods))
        labels = {LABEL_WORKSHOP: self.name, LABEL_LEARNER: prefix}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": LEARNER, "namespace": home, "labels": labels},
                "automountServiceAccountToken": False,
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": ANCHOR, "namespace": home, "labels": labels},
                "stringData": {"why": "every token of this learner is bound to this Secret"},
            }
        )
        docs.extend(policy.progress_access(self.name, prefix))
        docs.extend(policy.elsewhere(self.name, prefix))
        docs.append(policy.cluster_role(self.name, prefix))
        docs.append(policy.cluster_role_binding(self.name, prefix))
        namespaces = [d for d in docs if d["kind"] == "Namespace"]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._apply, namespaces))
            list(pool.map(self._apply, [d for d in docs if d["kind"] != "Namespace"]))

    def _hand_out(self, prefix: str, duration_seconds: int) -> Learner:
        """Mint a token bound to the anchor, and write the learner's kubeconfig."""
        home = f"{prefix}-{HOME}"
        anchor = self.admin.core.read_namespaced_secret(ANCHOR, home)
        token, status = create_token(
            self.admin.core, home, LEARNER, expiration_seconds=duration_seconds, bound_to=anchor
        )
        expires = status.expiration_timestamp
        ca = Path(self.admin.api.configuration.ssl_ca_cert).read_bytes()
        doc = kubeconfigs.kubeconfig(self.server, ca, token.reveal(), prefix, expires, self.name)
        path = kubeconfigs.write(self.dir / f"{prefix}.kubeconfig", doc)
        return Learner(prefix, path, expires)

    # -- status -----------------------------------------------------------------------------
    def status(self) -> pd.DataFrame:
        """One row per learner: token valid and until when, namespaces, Pods."""
        rows = []
        files = {f.prefix: f for f in kubeconfigs.read(self.dir)}
        for prefix in self.existing():
            namespaces = self.admin.core.list_namespace(
                label_selector=f"{LABEL_WORKSHOP}={self.name},{LABEL_LEARNER}={prefix}"
            ).items
            pods = sum(
                len(self.admin.core.list_namespaced_pod(n.metadata.name).items) for n in namespaces
            )
            handed = files.get(prefix)
            valid = self.token_works(handed.token) if handed else False
            rows.append(
                {
                    "learner": prefix,
                    "token valid": valid,
                    "expires (UTC)": f"{handed.expires:%Y-%m-%d %H:%M}" if handed else "—",
                    "namespaces": len(namespaces),
                    "Pods": pods,
                    "kubeconfig": str(handed.path) if handed else "—",
                }
            )
        return pd.DataFrame(rows)

    def token_works(self, token: str) -> bool:
        """Does the API server accept ``token`` right now (a TokenReview)?"""
        review = self.admin.authn.create_token_review(
            client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        )
        return bool(review.status.authenticated)

    # -- reset and extend ---------------------------------------------------------------------
    def reset(self, prefix: str, duration_seconds: int) -> Learner:
        """Empty the learner's namespaces, remove what they created, re-key: a new token."""
        if prefix not in self.existing():
            raise ClusterError(
                f"{prefix} is not a learner of workshop {self.name}: "
                f"`python -m helpers.workshop status` lists them."
            )
        with self.progress.stage(f"reset {prefix}"):
            for base in policy.precreated():
                empty(self.admin.api, names.ns(base, prefix))
            self._delete_learner_made(prefix)
            self._rekey(prefix)
            self._provision(prefix, pods=15)  # puts back anything protected that went
            return self._hand_out(prefix, duration_seconds)

    def _rekey(self, prefix: str) -> None:
        """A new anchor Secret: every token bound to the old one stops working."""
        home = f"{prefix}-{HOME}"
        try:
            self.admin.core.delete_namespaced_secret(ANCHOR, home)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def extend(self, duration_seconds: int) -> list[Learner]:
        """New tokens (same anchors) valid ``duration_seconds`` from now, for every learner."""
        with self.progress.stage(f"extend workshop {self.name}"):
            return [self._hand_out(p, duration_seconds) for p in self.existing()]

    def cut_off(self, prefix: str) -> None:
        """Revoke one learner at once: delete their anchor (their namespaces stay)."""
        self._rekey(prefix)

    # -- down -------------------------------------------------------------------------------
    def _delete_learner_made(self, prefix: str) -> list[str]:
        """Cluster-scoped objects the learner made (named ``<prefix>-…``), and their namespaces."""
        gone = []
        mine = f"{prefix}-"
        rbac = self.admin.rbac
        for kind, lister, deleter in (
            (
                "clusterrolebinding",
                rbac.list_cluster_role_binding,
                rbac.delete_cluster_role_binding,
            ),
            ("clusterrole", rbac.list_cluster_role, rbac.delete_cluster_role),
        ):
            for item in lister().items:
                if item.metadata.name.startswith(mine):
                    _ignore_404(deleter, item.metadata.name)
                    gone.append(f"{kind}/{item.metadata.name}")
        for n in self.admin.core.list_namespace().items:
            labels = n.metadata.labels or {}
            if n.metadata.name.startswith(mine) and LABEL_WORKSHOP not in labels:
                _ignore_404(self.admin.core.delete_namespace, n.metadata.name)
                gone.append(f"namespace/{n.metadata.name}")
        return gone

    def down(self, wait: bool = True) -> pd.DataFrame:
        """Remove everything of the workshop; prove each handed-out kubeconfig now gets 401."""
        handed = kubeconfigs.read(self.dir)
        with self.progress.stage(f"workshop {self.name}: down"):
            prefixes = self.existing()
            for prefix in prefixes:
                self._rekey(prefix)
                _ignore_404(
                    self.admin.core.delete_namespaced_service_account, LEARNER, f"{prefix}-{HOME}"
                )
            selector = f"{LABEL_WORKSHOP}={self.name}"
            rbac = self.admin.rbac
            for crb in rbac.list_cluster_role_binding(label_selector=selector).items:
                _ignore_404(rbac.delete_cluster_role_binding, crb.metadata.name)
            for role in rbac.list_cluster_role(label_selector=selector).items:
                _ignore_404(rbac.delete_cluster_role, role.metadata.name)
            # what the learners may read in kube-system and default (policy.elsewhere)
            for rb in rbac.list_role_binding_for_all_namespaces(label_selector=selector).items:
                _ignore_404(
                    rbac.delete_namespaced_role_binding, rb.metadata.name, rb.metadata.namespace
                )
            for r in rbac.list_role_for_all_namespaces(label_selector=selector).items:
                _ignore_404(rbac.delete_namespaced_role, r.metadata.name, r.metadata.namespace)
            for prefix in prefixes:
                self._delete_learner_made(prefix)
            adm = client.AdmissionregistrationV1Api(self.admin.api)
            for b in adm.list_validating_admission_policy_binding(label_selector=selector).items:
                _ignore_404(adm.delete_validating_admission_policy_binding, b.metadata.name)
            for p in adm.list_validating_admission_policy(label_selector=selector).items:
                _ignore_404(adm.delete_validating_admission_policy, p.metadata.name)
            for n in self.admin.core.list_namespace(label_selector=selector).items:
                _ignore_404(self.admin.core.delete_namespace, n.metadata.name)
        proof = self.prove_revoked(handed)
        for f in handed:
            f.path.unlink(missing_ok=True)
        if wait:
            self.wait_namespaces_gone()
        return proof

    def prove_revoked(
        self, handed: Iterable[kubeconfigs.LearnerFile], timeout: float = 30
    ) -> pd.DataFrame:
        """Call the API server with each kubeconfig's token until it answers 401; the table."""
        rows = []
        for f in handed:
            started = time.monotonic()
            status = _poll(lambda f=f: status_with(self.admin, f.token), 401, timeout)
            rows.append(
                {
                    "learner": f.prefix,
                    "status": status,
                    "seconds to 401": round(time.monotonic() - started, 1),
                }
            )
        table = pd.DataFrame(rows)
        if not table.empty and (table["status"] != 401).any():
            late = ", ".join(table[table["status"] != 401]["learner"])
            raise ClusterError(
                f"These kubeconfigs still work after `down`: {late}: check for a binding "
                "the workshop did not make, and run `down` again."
            )
        return table

    def wait_namespaces_gone(self, timeout: float = 180, terminating_only: bool = False) -> None:
        """Wait until the namespace controller has removed the workshop's namespaces.

        With ``terminating_only``, wait only for those already being deleted.
        """
        selector = f"{LABEL_WORKSHOP}={self.name}"
        deadline = time.monotonic() + timeout

        def left() -> list[Any]:
            found = self.admin.core.list_namespace(label_selector=selector).items
            if terminating_only:
                return [n for n in found if n.status.phase == "Terminating"]
            return found

        while left():
            if time.monotonic() > deadline:
                self.progress.say("  some namespaces are still terminating; they will go")
                return
            time.sleep(0.5)


def _lan_url(admin: Course) -> str:
    if admin.backend != "local":
        return ""
    from ..cluster.local import LocalCluster

    return LocalCluster().lan_url()


def status_with(admin: Course, token: str) -> int:
    """The HTTP status of a SelfSubjectReview made with ``token`` (200, 401 …)."""
    api = admin.client_for_token(Token(token))
    try:
        client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview(), _request_timeout=10
        )
        return 201
    except ApiException as exc:
        return int(exc.status)
    finally:
        api.close()


def _poll(ask: Callable[[], int], wanted: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        got = ask()
        if got == wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def _ignore_404(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status != 404:
            raise
