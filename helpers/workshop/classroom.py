"""Set up, inspect, reset, cut off, extend and tear down a workshop's learners on one cluster.

The instructor runs these as the cluster's administrator (``connect()`` of the backend in
use). Each learner gets:

- ``<prefix>-home``: the ServiceAccount ``learner`` and the Secret ``learner-anchor``. The
  learner holds no right there, so cannot mint tokens for ``learner`` nor touch the anchor;
- the course's namespaces under the prefix (``ws1-07-controller-ns`` …), each with the
  RoleBinding that grants the course's namespaced needs, object counts, and a LimitRange
  that hands out the learner's fair share (:mod:`helpers.workshop.shares`), and Pod
  Security ``baseline``;
- a ClusterRole and ClusterRoleBinding with the course's cluster-scoped needs, by name;
- a kubeconfig whose credential is a TokenRequest token of ``learner``, bound to the
  anchor Secret and expiring with the workshop.

Three ValidatingAdmissionPolicies (:mod:`helpers.workshop.admission`) fence the learners
in and everyone else out; RBAC's escalation check keeps them from granting more than they
hold. The instructor's commands take their learners from the workshop's roster
(:mod:`helpers.workshop.roster`), find a learner's objects by the names ``up`` gave them
(``ws1-07-…``), and never believe a label a learner could have written.
"""

from __future__ import annotations

import base64
import re
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
from ..cluster.waiting import deleted, poll_until, read_until
from ..course import Course
from ..errors import NotFound
from ..tokens import Token
from . import admission, kubeconfigs, policy, roster, shares
from .hub import hub_username
from .policy import HOME, LEARNER

__all__ = [
    "ANCHOR",
    "Credential",
    "Learner",
    "Workshop",
    "directory",
]

#: The Secret in ``<prefix>-home`` that every token of the learner is bound to.
ANCHOR = "learner-anchor"
FIELD_MANAGER = "sa-course-workshop"
#: Kinds that run code or hold a credential: revoking a learner deletes every one of them.
#: (API version, kind); ServiceAccounts, token Secrets and RoleBindings are handled apart.
RUNS_CODE = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("v1", "Pod"),
)
#: What emptying a learner's namespace (``reset``) deletes besides: everything the course
#: makes there. The workshop's own objects (:data:`policy.WORKSHOP_OBJECTS`) stay.
EMPTIED = (
    *RUNS_CODE,
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
)
#: Objects the cluster itself puts in every namespace: recreated if deleted, left alone.
CLUSTER_MADE = {("ConfigMap", "kube-root-ca.crt")}


def directory(workshop: str, backend: str) -> Path:
    """Where the learners' kubeconfigs are written (outside the repository; 0600 files).

    One folder per backend: two workshops of the same name on two clusters (the local and
    the kind one, say) never share, or delete, each other's files.
    """
    return cache_dir() / "workshop" / backend / workshop


@dataclass
class Learner:
    """One learner as handed out: prefix, kubeconfig file, the token's real expiry."""

    prefix: str
    kubeconfig: Path
    expires: datetime


@dataclass(frozen=True)
class Credential:
    """A token the workshop found for a learner, and where it came from (never printed)."""

    learner: str
    source: str
    token: Token


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
        self.dir = directory(name, admin.backend)
        self._dyn: DynamicClient | None = None
        self.prefix_length = len(policy.learner_prefix(name, 1))

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
            _request_timeout=30,
        )

    def prefixes(self, learners: int) -> list[str]:
        return [policy.learner_prefix(self.name, i) for i in range(1, learners + 1)]

    def roster(self) -> roster.Roster | None:
        """What ``up`` recorded for this workshop (None: no such workshop here)."""
        return roster.read(self.admin.core, self.name)

    def existing(self) -> list[str]:
        """This workshop's learners, as ``up`` recorded them (never from a label)."""
        found = self.roster()
        return found.learners if found else []

    def _require(self, prefix: str) -> None:
        if prefix not in self.existing():
            raise ClusterError(
                f"{prefix} is not a learner of workshop {self.name}: "
                f"`python -m helpers.workshop status` lists them."
            )

    def _owned(self, prefix: str) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(prefix)}-")

    def namespaces_of(self, prefix: str) -> list[str]:
        """Every namespace named ``<prefix>-…`` on the cluster (whatever its labels say)."""
        mine = self._owned(prefix)
        return sorted(
            n.metadata.name
            for n in self.admin.core.list_namespace(_request_timeout=30).items
            if mine.match(n.metadata.name)
        )

    def _labels(self, prefix: str = "") -> dict[str, str]:
        return policy.labels(self.name, prefix)

    # -- up ---------------------------------------------------------------------------------
    def instructor(self) -> str:
        """The username the admin's credential authenticates as."""
        review = self.admin.authn.create_self_subject_review(
            client.V1SelfSubjectReview(), _request_timeout=30
        )
        return review.status.user_info.username

    def up(self, learners: int, duration_seconds: int) -> list[Learner]:
        """Create (or bring up to date) ``learners`` learners; write their kubeconfigs."""
        if not 1 <= learners <= 99:
            raise ClusterError("A workshop has 1 to 99 learners: pick --learners in that range.")
        self.wait_namespaces_gone(terminating_only=True)  # one of this name, still going away
        record = self.roster() or roster.Roster(self.name)
        wanted = self.prefixes(learners)
        record.learners = sorted(set(record.learners) | set(wanted))
        record.instructors = sorted(set(record.instructors) | {self.instructor()})
        share = shares.shares(shares.capacity(self.admin.core), len(record.learners))
        self.progress.say(f"  {share.describe()}")
        with self.progress.stage(f"workshop {self.name}: roster, shared role, admission"):
            roster.write(self.admin.core, record, self._labels())
            self._apply(policy.namespaced_role(self.name))
            for doc in self._policies(record, share):
                self._apply(doc)
            self._advertise_slots(record.learners, share)
        out: list[Learner] = []
        with self.progress.stage(f"workshop {self.name}: {learners} learners"):
            for prefix in wanted:
                started = time.monotonic()
                self._provision(prefix, share)
                out.append(self._hand_out(prefix, duration_seconds))
                self.progress.say(
                    f"  {prefix}: ready in {time.monotonic() - started:.1f}s, token until "
                    f"{out[-1].expires:%Y-%m-%d %H:%M} UTC → {out[-1].kubeconfig}"
                )
        return out

    def _policies(self, record: roster.Roster, share: shares.Shares) -> list[dict[str, Any]]:
        return admission.policies(
            self.name,
            self.prefix_length,
            record.instructors,
            share.cpu_request_millis,
            self._labels(),
            lambda what: policy.object_name(self.name, what),
            hub=hub_username(self.name),
        )

    def _advertise_slots(self, prefixes: Iterable[str], share: shares.Shares) -> None:
        """Each node offers every learner their Pod slots (an extended resource)."""
        per_node = str(share.slots_per_node)
        for node in self.admin.core.list_node(_request_timeout=30).items:
            ops = []
            for prefix in prefixes:
                key = admission.slot_resource(prefix).replace("/", "~1")
                for part in ("capacity", "allocatable"):
                    ops.append({"op": "add", "path": f"/status/{part}/{key}", "value": per_node})
            if ops:
                self.admin.core.patch_node_status(node.metadata.name, ops, _request_timeout=30)

    def _withdraw_slots(self, prefixes: Iterable[str]) -> None:
        wanted = {admission.slot_resource(p) for p in prefixes}
        for node in self.admin.core.list_node(_request_timeout=30).items:
            ops = []
            for part in ("capacity", "allocatable"):
                for key in getattr(node.status, part) or {}:
                    if key in wanted:
                        path = f"/status/{part}/{key.replace('/', '~1')}"
                        ops.append({"op": "remove", "path": path})
            if ops:
                self.admin.core.patch_node_status(node.metadata.name, ops, _request_timeout=30)

    def _provision(self, prefix: str, share: shares.Shares) -> None:
        home = f"{prefix}-{HOME}"
        docs: list[dict[str, Any]] = [policy.namespace(self.name, prefix, home)]
        for base in policy.precreated():
            ns = names.ns(base, prefix)
            docs.append(policy.namespace(self.name, prefix, ns))
            docs.append(policy.namespace_binding(self.name, prefix, ns))
            docs.extend(policy.quota(self.name, prefix, ns, share))
        labels = self._labels(prefix)
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
        self._wait_for_default_accounts([d["metadata"]["name"] for d in namespaces])

    def _wait_for_default_accounts(self, namespaces: list[str]) -> None:
        """Ready means usable: a Pod made at once needs its namespace's ``default`` account,
        which the ServiceAccount controller adds a moment after the namespace."""

        def missing() -> list[str]:
            have = {
                sa.metadata.namespace
                for sa in self.admin.core.list_service_account_for_all_namespaces(
                    field_selector="metadata.name=default", _request_timeout=30
                ).items
            }
            return [ns for ns in namespaces if ns not in have]

        poll_until(
            lambda: not missing(),
            timeout=60,
            interval=0.2,
            what="the default ServiceAccount of each learner namespace",
            error=ClusterError,
            why=lambda: (
                f"still missing in {', '.join(missing())}; is kube-controller-manager running?"
            ),
        )

    def _hand_out(self, prefix: str, duration_seconds: int) -> Learner:
        """Mint a token bound to the anchor, and write the learner's kubeconfig."""
        home = f"{prefix}-{HOME}"
        anchor = self.admin.core.read_namespaced_secret(ANCHOR, home, _request_timeout=30)
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
            namespaces = self.namespaces_of(prefix)
            pods = sum(
                len(self.admin.core.list_namespaced_pod(n, _request_timeout=30).items)
                for n in namespaces
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
            client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)), _request_timeout=30
        )
        return bool(review.status.authenticated)

    # -- revoking, resetting, extending -------------------------------------------------------
    def cut_off(self, prefix: str) -> list[str]:
        """Revoke one learner at once: their token, and everything that carries their rights.

        Deletes the anchor (their kubeconfig's token dies), then every ServiceAccount,
        token Secret, RoleBinding, Pod and workload they made, their cluster roles and
        bindings and the namespaces they created. Returns what went.
        """
        self._require(prefix)
        with self.progress.stage(f"cut off {prefix}"):
            return self._revoke(prefix)

    def _revoke(self, prefix: str) -> list[str]:
        self._rekey(prefix)
        gone: list[str] = []
        precreated = {f"{prefix}-{HOME}"} | {names.ns(b, prefix) for b in policy.precreated()}
        for ns in self.namespaces_of(prefix):
            if ns not in precreated:  # a namespace the learner made (notebook 01's demo)
                _ignore_404(self.admin.core.delete_namespace, ns)
                gone.append(f"namespace/{ns}")
                continue
            gone += self._delete_in(ns, (("v1", "ServiceAccount"),), keep_cluster_made=False)
            gone += self._delete_in(ns, (("rbac.authorization.k8s.io/v1", "RoleBinding"),))
            gone += self._delete_in(ns, RUNS_CODE)
            gone += self._delete_token_secrets(ns)
        gone += self._delete_cluster_objects(self._owned(prefix))
        return gone

    def _delete_in(
        self,
        namespace: str,
        kinds: Iterable[tuple[str, str]],
        keep_cluster_made: bool = True,
    ) -> list[str]:
        """Delete every object of ``kinds`` in ``namespace`` but the workshop's own."""
        gone = []
        for api_version, kind in kinds:
            resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
            for item in resource.get(namespace=namespace, _request_timeout=30).items:
                name = item.metadata.name
                if (kind, name) in policy.WORKSHOP_OBJECTS:
                    continue
                if keep_cluster_made and (kind, name) in CLUSTER_MADE:
                    continue
                if namespace.endswith(f"-{HOME}") and (kind, name) in policy.HOME_OBJECTS:
                    continue
                body = {"gracePeriodSeconds": 0} if kind == "Pod" else None
                if deleted(
                    lambda resource=resource, name=name, body=body: resource.delete(
                        name=name, namespace=namespace, body=body, _request_timeout=30
                    )
                ):
                    gone.append(f"{kind.lower()}/{namespace}/{name}")
        return gone

    def _delete_token_secrets(self, namespace: str) -> list[str]:
        gone = []
        for s in self.admin.core.list_namespaced_secret(namespace, _request_timeout=30).items:
            if s.type == "kubernetes.io/service-account-token":
                _ignore_404(self.admin.core.delete_namespaced_secret, s.metadata.name, namespace)
                gone.append(f"secret/{namespace}/{s.metadata.name}")
        return gone

    def _delete_cluster_objects(self, named: re.Pattern[str]) -> list[str]:
        """Cluster roles and bindings whose names match ``named``."""
        gone = []
        rbac = self.admin.rbac
        for kind, lister, deleter in (
            (
                "clusterrolebinding",
                rbac.list_cluster_role_binding,
                rbac.delete_cluster_role_binding,
            ),
            ("clusterrole", rbac.list_cluster_role, rbac.delete_cluster_role),
        ):
            for item in lister(_request_timeout=30).items:
                if named.match(item.metadata.name):
                    _ignore_404(deleter, item.metadata.name)
                    gone.append(f"{kind}/{item.metadata.name}")
        return gone

    def reset(self, prefix: str, duration_seconds: int) -> Learner:
        """Revoke, empty the learner's namespaces, put the workshop's back: a new token."""
        self._require(prefix)
        with self.progress.stage(f"reset {prefix}"):
            self._revoke(prefix)
            for ns in [names.ns(b, prefix) for b in policy.precreated()]:
                self._delete_in(ns, EMPTIED)
            self._wait_no_pods([names.ns(b, prefix) for b in policy.precreated()])
            record = self.roster() or roster.Roster(self.name)
            share = shares.shares(shares.capacity(self.admin.core), len(record.learners) or 1)
            self._provision(prefix, share)  # puts back anything of the workshop's that went
            return self._hand_out(prefix, duration_seconds)

    def _wait_no_pods(self, namespaces: list[str], timeout: float = 90) -> None:
        core = self.admin.core
        poll_until(
            lambda: (
                not any(
                    core.list_namespaced_pod(ns, _request_timeout=30).items for ns in namespaces
                )
            ),
            timeout=timeout,
            what="the learner's Pods to go (run the command again)",
            error=ClusterError,
        )

    def _rekey(self, prefix: str) -> None:
        """A new anchor Secret: every token bound to the old one stops working."""
        _ignore_404(self.admin.core.delete_namespaced_secret, ANCHOR, f"{prefix}-{HOME}")

    def extend(self, duration_seconds: int) -> list[Learner]:
        """New tokens (same anchors) valid ``duration_seconds`` from now, for every learner."""
        with self.progress.stage(f"extend workshop {self.name}"):
            return [self._hand_out(p, duration_seconds) for p in self.existing()]

    # -- down -------------------------------------------------------------------------------
    def credentials(self, prefixes: Iterable[str]) -> list[Credential]:
        """Every credential of the learners the workshop can find or make.

        Their handed-out kubeconfigs; every token Secret in their namespaces; and a fresh
        token (made now, as the admin) of every ServiceAccount in their namespaces, which
        stands for every token anyone ever minted for that account.
        """
        found = [
            Credential(f.prefix, "kubeconfig", Token(f.token)) for f in kubeconfigs.read(self.dir)
        ]

        def of(prefix: str) -> list[Credential]:
            out = []
            for ns in self.namespaces_of(prefix):
                core = self.admin.core
                for s in core.list_namespaced_secret(ns, _request_timeout=30).items:
                    if s.type == "kubernetes.io/service-account-token" and (s.data or {}).get(
                        "token"
                    ):
                        raw = base64.b64decode(s.data["token"]).decode()
                        out.append(Credential(prefix, f"Secret {ns}/{s.metadata.name}", Token(raw)))
                for sa in core.list_namespaced_service_account(ns, _request_timeout=30).items:
                    try:
                        token, _ = create_token(core, ns, sa.metadata.name, expiration_seconds=600)
                    except NotFound:  # deleted since it was listed: nothing to prove
                        continue
                    out.append(Credential(prefix, f"ServiceAccount {ns}/{sa.metadata.name}", token))
            return out

        with ThreadPoolExecutor(max_workers=6) as pool:
            for more in pool.map(of, list(prefixes)):
                found += more
        return found

    def down(self, wait: bool = True) -> pd.DataFrame:
        """Remove everything of the workshop; prove every learner credential now gets 401."""
        record = self.roster()
        prefixes = record.learners if record else []
        handed = kubeconfigs.read(self.dir)
        with self.progress.stage(f"workshop {self.name}: down"):
            creds = self.credentials(prefixes)
            for prefix in prefixes:
                self._rekey(prefix)
                _ignore_404(
                    self.admin.core.delete_namespaced_service_account, LEARNER, f"{prefix}-{HOME}"
                )
            doomed = set()
            for prefix in prefixes:
                doomed |= set(self.namespaces_of(prefix))
            for ns in sorted(doomed):
                _ignore_404(self.admin.core.delete_namespace, ns)
            # a terminating namespace keeps its accounts (and their tokens working) until
            # the namespace controller gets to them: delete them now, nothing recreates them
            for ns in sorted(doomed):
                self._delete_in(ns, (("v1", "ServiceAccount"),), keep_cluster_made=False)
            ours = re.compile(rf"^{re.escape(policy.object_name(self.name, ''))}")
            self._delete_cluster_objects(ours)
            for prefix in prefixes:
                self._delete_cluster_objects(self._owned(prefix))
            rbac = self.admin.rbac
            for scope in policy.elsewhere_namespaces():
                for rb in rbac.list_namespaced_role_binding(scope, _request_timeout=30).items:
                    if ours.match(rb.metadata.name):
                        _ignore_404(rbac.delete_namespaced_role_binding, rb.metadata.name, scope)
                for r in rbac.list_namespaced_role(scope, _request_timeout=30).items:
                    if ours.match(r.metadata.name):
                        _ignore_404(rbac.delete_namespaced_role, r.metadata.name, scope)
            adm = client.AdmissionregistrationV1Api(self.admin.api)
            for b in adm.list_validating_admission_policy_binding(_request_timeout=30).items:
                if ours.match(b.metadata.name):
                    _ignore_404(adm.delete_validating_admission_policy_binding, b.metadata.name)
            for p in adm.list_validating_admission_policy(_request_timeout=30).items:
                if ours.match(p.metadata.name):
                    _ignore_404(adm.delete_validating_admission_policy, p.metadata.name)
            self._withdraw_slots(prefixes)
        proof = self.prove_revoked(creds)
        _ignore_404(
            self.admin.core.delete_namespaced_config_map,
            roster.CONFIGMAP,
            roster.namespace(self.name),
        )
        _ignore_404(self.admin.core.delete_namespace, roster.namespace(self.name))
        for f in handed:
            f.path.unlink(missing_ok=True)
        if wait:
            self.wait_namespaces_gone()
        return proof

    def prove_revoked(self, credentials: Iterable[Credential], timeout: float = 30) -> pd.DataFrame:
        """Call the API server with each credential until it answers 401; one row per learner."""

        def one(c: Credential) -> tuple[Credential, int, float]:
            started = time.monotonic()
            status = _poll(lambda: status_with(self.admin, c.token), 401, timeout)
            return c, status, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, credentials))
        late = sorted({f"{c.learner} ({c.source})" for c, status, _ in results if status != 401})
        if late:
            raise ClusterError(
                f"These credentials still work after `down`: {', '.join(late)}: check for "
                "a binding the workshop did not make, and run `down` again."
            )
        rows: dict[str, dict[str, Any]] = {}
        for c, status, seconds in results:
            row = rows.setdefault(
                c.learner,
                {"learner": c.learner, "credentials": 0, "status": status, "seconds to 401": 0.0},
            )
            row["credentials"] += 1
            row["seconds to 401"] = round(max(row["seconds to 401"], seconds), 1)
        return pd.DataFrame(list(rows.values()))

    def wait_namespaces_gone(self, timeout: float = 180, terminating_only: bool = False) -> None:
        """Wait until the namespace controller has removed the workshop's namespaces.

        The workshop's namespaces are its own and those named like a learner's
        (``ws1-NN-…``). With ``terminating_only``, wait only for those already going away.
        """
        pattern = re.compile(rf"^{re.escape(self.name)}-\d\d-|^{roster.namespace(self.name)}$")

        def left() -> list[Any]:
            found = [
                n
                for n in self.admin.core.list_namespace(_request_timeout=30).items
                if pattern.match(n.metadata.name)
            ]
            if terminating_only:
                return [n for n in found if n.status.phase == "Terminating"]
            return found

        try:
            poll_until(lambda: not left(), timeout=timeout, interval=0.5)
        except TimeoutError:
            self.progress.say("  some namespaces are still terminating; they will go")


def _lan_url(admin: Course) -> str:
    """The API server's LAN address, where the course's own cluster listens on one."""
    return admin.node.lan_url() if admin.node else ""


def status_with(admin: Course, token: Token | str) -> int:
    """The HTTP status of a SelfSubjectReview made with ``token`` (201, 401 …)."""
    api = admin.client_for_token(token if isinstance(token, Token) else Token(token))
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
    """``ask()`` until it answers ``wanted``; its last answer."""
    return read_until(ask, lambda got: got == wanted, timeout=timeout, interval=0.5)


def _ignore_404(fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` with a timeout; a 404 (gone already) is fine."""
    deleted(lambda: fn(*args, _request_timeout=30))
