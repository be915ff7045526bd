"""Lab 16: give a Pod a certificate that another Pod accepts over mutual TLS.

The scenario (namespace ``lab-16-identity``): the lab's own signer (notebook 16's, for a
signer name of this lab's own), running in the lab's kernel as its ServiceAccount
``pod-signer`` with exactly a signer's rights, its CA published as a ClusterTrustBundle;
``web``, a Pod that serves TLS and insists on a client certificate from that CA; and the
ServiceAccount ``caller``, which the signer serves. The learner writes ``VOLUME``, the
projected volume of the Pod ``caller``; the check starts that Pod and judges by what
happens: whether it starts, and whether ``openssl s_client`` in it completes a mutual TLS
handshake with ``web``, which answers with the identity it saw.

Pod certificates are GA in Kubernetes 1.37; where this cluster does not serve them (or
you may not run a signer), every check says so in one sentence.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, ClassVar

from kubernetes import client

from .. import podcerts
from ..accounts import create_service_account, create_token
from ..cluster.waiting import deleted, read_until
from ..course import Course
from ..errors import CourseApiError, translate_api_errors
from ..names import ns
from ..pods import delete_pod, exec_in_pod
from .checks import Lab, NotYet, Question
from .common import wait_for_pods

__all__ = ["NAMESPACE", "PodIdentityLab", "start"]

NAMESPACE = ns("lab-16-identity")
GROUP = "certificates.k8s.io"
TRUST_DOMAIN = "sa-course.example"
#: Where ``caller`` mounts ``VOLUME`` (podcerts.identity_pod) and where web keeps its files.
MOUNT = "/var/run/identity"
#: A request the lab's signer has not answered this long is one no signer serves.
UNANSWERED_SECONDS = 20.0
#: How long a Pod may take to start once its certificate is issued.
START_SECONDS = 60.0
#: The signers this process runs, by lab namespace (a set-up run again stops the old one).
_SIGNERS: dict[str, podcerts.PodSigner] = {}
_SIGNERS_LOCK = threading.Lock()


def _volume(signer: str) -> dict[str, Any]:
    """The lab's own answer: one credential bundle and the signer's trust bundle, owner-only."""
    return {
        "name": "identity",
        "projected": {
            "defaultMode": 0o400,
            "sources": [
                {
                    "podCertificate": {
                        "signerName": signer,
                        "keyType": "ED25519",
                        "credentialBundlePath": "credentials.pem",
                    }
                },
                {
                    "clusterTrustBundle": {
                        "signerName": signer,
                        "labelSelector": {},
                        "path": "trust.pem",
                    }
                },
            ],
        },
    }


def _serve() -> list[str]:
    """web: TLS on 8443, a client certificate from the signer's CA required, echoed back."""
    files = f"{MOUNT}/credentials.pem"
    return [
        "openssl", "s_server", "-accept", "8443", "-www", "-cert", files, "-key", files,
        "-CAfile", f"{MOUNT}/trust.pem", "-Verify", "1", "-verify_return_error",
    ]  # fmt: skip


def _paths(volume: dict[str, Any]) -> dict[str, str | None]:
    """Where the learner's volume puts the key, the certificate chain and the trust bundle
    (under :data:`MOUNT`; None where it puts nothing)."""
    found: dict[str, str | None] = {"key": None, "chain": None, "trust": None}
    for source in (volume.get("projected") or {}).get("sources") or []:
        if not isinstance(source, dict):
            continue
        cert = source.get("podCertificate") or {}
        if cert.get("credentialBundlePath"):
            found["key"] = found["chain"] = f"{MOUNT}/{cert['credentialBundlePath']}"
        if cert.get("keyPath"):
            found["key"] = f"{MOUNT}/{cert['keyPath']}"
        if cert.get("certificateChainPath"):
            found["chain"] = f"{MOUNT}/{cert['certificateChainPath']}"
        bundle = source.get("clusterTrustBundle") or {}
        if bundle.get("path"):
            found["trust"] = f"{MOUNT}/{bundle['path']}"
    return found


def _uri(text: str) -> str | None:
    """The SPIFFE URI in openssl's output (its ``URI:spiffe://…`` line), or None."""
    for line in text.splitlines():
        if "URI:spiffe://" in line:
            return line.split("URI:", 1)[1].split(",")[0].strip()
    return None


class IdentityForCaller(Question):
    title = "caller proves who it is to web, over mutual TLS"
    variables = ("VOLUME",)
    hints = (
        "Two sources in one projected volume: a `podCertificate` (the signer's name, a "
        "`keyType`, and where to write the key and chain) and a `clusterTrustBundle` (whom "
        "caller trusts in a peer). Notebook 16, section 5.",
        "web reads nothing of yours: caller must present a certificate *and* verify web's. "
        "The files hold a private key: who may read them (`defaultMode`)?",
        "A `clusterTrustBundle` chosen by `signerName` also takes a `labelSelector`: `{}` "
        "matches every bundle of that signer; left out, the API says it matches nothing.",
    )
    solution_code = """
        VOLUME = {
            "name": "identity",
            "projected": {
                "defaultMode": 0o400,
                "sources": [
                    {"podCertificate": {"signerName": SIGNER, "keyType": "ED25519",
                                        "credentialBundlePath": "credentials.pem"}},
                    {"clusterTrustBundle": {"signerName": SIGNER, "labelSelector": {},
                                            "path": "trust.pem"}},
                ],
            },
        }
        """

    def evaluate(self, VOLUME: object) -> str:
        lab: PodIdentityLab = self.lab  # type: ignore[assignment]
        if not isinstance(VOLUME, dict) or not isinstance(VOLUME.get("projected"), dict):
            raise NotYet(
                "`VOLUME` must be a dict: a volume with a `name` and a `projected` list of "
                "`sources`."
            )
        pod = lab.start_caller(VOLUME)
        paths = _paths(VOLUME)
        mode = lab.key_mode(paths["key"]) if paths["key"] else None
        said = lab.handshake(paths)
        wanted = podcerts.spiffe_id(TRUST_DOMAIN, lab.namespace, "caller")
        # judged by openssl's account of the handshake, in the order TLS 1.3 goes: caller
        # checks web's certificate, then web asks for caller's
        if "Verify return code: 0 (ok)" not in said:
            raise NotYet(
                "caller could not verify web's certificate: it needs the signer's CA to trust "
                "— a `clusterTrustBundle` source in the same volume."
            )
        if "alert certificate required" in said:
            raise NotYet(
                "web ended the handshake: caller presented no certificate (TLS alert "
                "*certificate required*) — its volume needs a `podCertificate` source."
            )
        if "HTTP/1.0 200 ok" not in said or _uri(said) != wanted:
            tail = " ".join(said.split())[-200:]
            raise NotYet(
                f"the handshake with web did not complete as caller ({_uri(said) or 'no identity'}"
                f" seen; openssl said: …{tail})."
            )
        if mode is not None and mode & 0o077:
            raise NotYet(
                f"the handshake works, but caller's private key is readable by others in its "
                f"Pod (mode {mode:o}): make the volume's files owner-only."
            )
        return (
            f"`web` saw caller as `{wanted}`, from a certificate whose key the kubelet made on "
            f"`{pod.spec.node_name}` and never sent anywhere; caller checked web's the same "
            "way. No token was involved: nothing a log or a proxy could replay."
        )


class PodIdentityLab(Lab):
    """The scenario: the lab's signer (its account, rights, CA and trust bundle), ``web``
    serving mutual TLS, and the account ``caller``."""

    question_types: ClassVar[tuple[type[Question], ...]] = (IdentityForCaller,)

    @property
    def tag(self) -> str:
        return hashlib.sha256(self.namespace.encode()).hexdigest()[:8]

    @property
    def signer_name(self) -> str:
        """This lab's signer name: a namespace of its own gets a signer of its own."""
        return f"{TRUST_DOMAIN}/lab16-{self.tag}"

    @property
    def cluster_role(self) -> str:
        return f"sa-course-lab16-signer-{self.tag}"

    @property
    def bundle(self) -> str:
        return self.signer_name.replace("/", ":") + ":ca"

    @classmethod
    def unavailable_in_workshop(cls) -> str:
        return (
            "running a signer takes cluster-wide rights (ClusterRoles, ClusterTrustBundles, "
            "`attest`) that no workshop learner holds"
        )

    def unavailable(self) -> str:
        """Why this cluster cannot judge the lab ('' where it can), read from the cluster."""
        if self.course is None:
            return ""
        return _why_no_signer(self.course, self.signer_name)

    def names(self) -> dict[str, Any]:
        return {**super().names(), "SIGNER": self.signer_name}

    # -- the scenario --------------------------------------------------------------------
    def set_up(self) -> PodIdentityLab:
        course, namespace = self.course, self.namespace
        why = self.unavailable()
        self._stop_signer()
        if not why:  # (elsewhere this identity may not touch cluster-scoped objects)
            self._delete_cluster_objects()
        self.fresh()
        for account in ("pod-signer", "web", "caller"):
            create_service_account(course.core, namespace, account)
        if why:
            return self
        self._grant_signer()
        ca = podcerts.make_ca(f"{self.signer_name} CA")
        certificates = client.CertificatesV1Api(course.api)
        with translate_api_errors():
            certificates.create_cluster_trust_bundle(
                {
                    "metadata": {"name": self.bundle, "labels": {"sa-course.io/lab": namespace}},
                    "spec": {"signerName": self.signer_name, "trustBundle": ca.pem},
                }
            )
        token, _ = create_token(course.core, namespace, "pod-signer", expiration_seconds=43200)
        signer = podcerts.PodSigner(
            client.CertificatesV1Api(course.client_for_token(token)),
            namespace,
            self.signer_name,
            ca,
            TRUST_DOMAIN,
            serves=["web", "caller"],
        )
        with _SIGNERS_LOCK:
            _SIGNERS[namespace] = signer.start()
        pod = podcerts.identity_pod("web", "web", _volume(self.signer_name), _serve())
        with translate_api_errors():
            course.core.create_namespaced_pod(namespace, pod)
        wait_for_pods(course.core, namespace, "app=web", timeout=90)
        return self

    def _grant_signer(self) -> None:
        """The signer's rights (notebook 16): read requests and write their status here;
        ``sign`` for this lab's signer name alone."""
        course, namespace = self.course, self.namespace
        account = {"kind": "ServiceAccount", "name": "pod-signer", "namespace": namespace}
        labels = {"sa-course.io/lab": namespace}
        with translate_api_errors():
            course.rbac.create_namespaced_role(
                namespace,
                {
                    "metadata": {"name": "pod-signer"},
                    "rules": [
                        {"apiGroups": [GROUP], "resources": ["podcertificaterequests"],
                         "verbs": ["get", "list", "watch"]},
                        {"apiGroups": [GROUP], "resources": ["podcertificaterequests/status"],
                         "verbs": ["update"]},
                    ],
                },
            )  # fmt: skip
            course.rbac.create_namespaced_role_binding(
                namespace,
                {
                    "metadata": {"name": "pod-signer"},
                    "subjects": [account],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": "pod-signer"},
                },
            )  # fmt: skip
            course.rbac.create_cluster_role(
                {
                    "metadata": {"name": self.cluster_role, "labels": labels},
                    "rules": [{"apiGroups": [GROUP], "resources": ["signers"],
                               "resourceNames": [self.signer_name], "verbs": ["sign"]}],
                }
            )  # fmt: skip
            course.rbac.create_cluster_role_binding(
                {
                    "metadata": {"name": self.cluster_role, "labels": labels},
                    "subjects": [account],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": self.cluster_role},
                }
            )  # fmt: skip

    def _stop_signer(self) -> None:
        with _SIGNERS_LOCK:
            old = _SIGNERS.pop(self.namespace, None)
        if old is not None:
            old.stop()

    def _delete_cluster_objects(self) -> None:
        """The lab's cluster-scoped objects: the signer's ClusterRole and binding, its bundle."""
        rbac = self.course.rbac
        deleted(lambda: rbac.delete_cluster_role_binding(self.cluster_role))
        deleted(lambda: rbac.delete_cluster_role(self.cluster_role))
        certificates = client.CertificatesV1Api(self.course.api)
        deleted(lambda: certificates.delete_cluster_trust_bundle(self.bundle))

    def clean_up(self, *, now: bool = False) -> None:
        """Stop the signer, delete its cluster-scoped objects and the namespace (as
        :meth:`Lab.clean_up`)."""
        super().clean_up(now=now)
        if self.cleaned_up:
            self._stop_signer()
            if not self.unavailable():
                self._delete_cluster_objects()

    # -- what the check does -------------------------------------------------------------
    @property
    def signer(self) -> podcerts.PodSigner | None:
        with _SIGNERS_LOCK:
            return _SIGNERS.get(self.namespace)

    def start_caller(self, volume: dict[str, Any]) -> client.V1Pod:
        """Start ``caller`` with the learner's volume; *Not yet* unless it runs."""
        course, namespace = self.course, self.namespace
        signer = self.signer
        if signer is None or not signer.running:
            raise NotYet(
                "the lab's signer is not running in this kernel (was it restarted?): re-run "
                "the set-up cell, then this check."
            )
        delete_pod(course.core, namespace, "caller")
        manifest = podcerts.identity_pod("caller", "caller", volume, ["sleep", "3600"])
        try:
            with translate_api_errors():
                course.core.create_namespaced_pod(namespace, manifest)
        except ValueError as exc:  # the client checks the Pod against its models first
            raise NotYet(f"your `VOLUME` is not a valid volume: {_invalid(exc)}.") from None
        except CourseApiError as exc:
            said = " ".join(str(exc).split())[:300]
            raise NotYet(
                f"the API server refused caller's Pod with your `VOLUME`: {said}"
            ) from None
        return self._wait_running()

    def _wait_running(self) -> client.V1Pod:
        """caller, running; else *Not yet* with what stops it: the signer's answer to its
        request, a request no signer answers, or the kubelet's own complaint."""
        pod, requests, complaints = read_until(
            self._caller_state, _settled, timeout=START_SECONDS, interval=1
        )
        if pod.status.phase == "Running":
            return pod
        for r in requests:
            conditions = (r.status.conditions or []) if r.status else []
            for c in conditions:
                if c.type in ("Denied", "Failed"):
                    raise NotYet(
                        f"caller never started: the signer `{r.spec.signer_name}` answered "
                        f"{c.type} ({c.reason}) to its certificate request."
                    )
            if not conditions:
                raise NotYet(
                    "caller never started: its certificate request for "
                    f"`{r.spec.signer_name}` waits for an answer no signer gives (the lab's "
                    "signer is `SIGNER`)."
                )
        if complaints:
            said = " ".join(complaints[-1].split())[:300]
            raise NotYet(f"caller never started: the kubelet cannot set up its volume ({said}).")
        raise NotYet(
            f"caller never started within {START_SECONDS:.0f} s: {_waiting_reason(pod)} "
            f"(`kubectl describe pod caller -n {self.namespace}` says more)."
        )

    def _caller_state(self) -> tuple[client.V1Pod, list[Any], list[str]]:
        """caller, its certificate requests, and the kubelet's FailedMount messages for it."""
        core, namespace = self.course.core, self.namespace
        pod = core.read_namespaced_pod("caller", namespace)
        uid = pod.metadata.uid
        requests = (
            client.CertificatesV1Api(self.course.api)
            .list_namespaced_pod_certificate_request(
                namespace, field_selector="spec.podName=caller"
            )
            .items
        )
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=caller"
        ).items
        complaints = [
            e.message or ""
            for e in events
            if e.reason == "FailedMount" and e.involved_object.uid == uid
        ]
        return pod, [r for r in requests if r.spec.pod_uid == uid], complaints

    def key_mode(self, path: str) -> int | None:
        """The permission bits of ``path`` in caller (the file a symlink names), or None."""
        out = exec_in_pod(
            self.course.core, self.namespace, "caller", ["stat", "-L", "-c", "%a", path],
            check=False, timeout=30,
        ).stdout.strip()  # fmt: skip
        return int(out, 8) if out.isdigit() else None

    def handshake(self, paths: dict[str, str | None]) -> str:
        """openssl's account of caller calling web (and web's answer), as caller's files allow."""
        web = self.course.core.read_namespaced_pod("web", self.namespace)
        args = ["-connect", f"{web.status.pod_ip}:8443", "-verify_return_error", "-ign_eof"]
        if paths["trust"]:
            args += ["-CAfile", paths["trust"]]
        if paths["chain"] and paths["key"]:
            args += ["-cert", paths["chain"], "-key", paths["key"]]
        hello = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 20 openssl s_client " + " ".join(
            args
        )
        return exec_in_pod(
            self.course.core, self.namespace, "caller", ["sh", "-c", f"{hello} 2>&1"],
            check=False, timeout=60,
        ).stdout  # fmt: skip


def _invalid(exc: ValueError) -> str:
    """What the client's model check (pydantic) found, in the Pod's own field names."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return " ".join(str(exc).split())[:300]
    found = []
    for error in errors()[:3]:
        where = [str(p) for p in error.get("loc", ())]
        path = ".".join(where[1:] if where and where[0].isdigit() else where)  # 2: the body
        found.append(f"`{path}`: {error.get('msg', 'invalid').lower()}")
    return "; ".join(found)


def _settled(seen: tuple[client.V1Pod, list[Any], list[str]]) -> bool:
    """Running, or stopped for good: a request refused or unanswered, or the kubelet
    complaining about the volume for a while."""
    pod, requests, complaints = seen
    if pod.status.phase == "Running":
        return True
    for r in requests:
        conditions = (r.status.conditions or []) if r.status else []
        if any(c.type in ("Denied", "Failed") for c in conditions):
            return True
        if not conditions and _age_seconds(r.metadata.creation_timestamp) > UNANSWERED_SECONDS:
            return True
    started = pod.metadata.creation_timestamp
    return bool(complaints) and _age_seconds(started) > UNANSWERED_SECONDS


def _age_seconds(when: Any) -> float:
    import datetime as dt

    return (dt.datetime.now(dt.UTC) - when).total_seconds()


def _waiting_reason(pod: client.V1Pod) -> str:
    statuses = pod.status.container_statuses or []
    waiting = statuses[0].state.waiting if statuses and statuses[0].state else None
    return f"it is {pod.status.phase}" + (f", {waiting.reason}" if waiting else "")


def _serves_pod_certificates(course: Course) -> bool:
    """Does this cluster serve PodCertificateRequests and ClusterTrustBundles in v1?"""
    import json

    from ..errors import NotFound

    try:
        found = json.loads(course.get_raw(f"/apis/{GROUP}/v1"))["resources"]
    except NotFound:
        return False
    names = {r["name"] for r in found}
    return {"podcertificaterequests", "clustertrustbundles"} <= names


def _why_no_signer(course: Course, signer: str) -> str:
    """'' if this identity may run a signer here; else why not, in one clause."""
    if not _serves_pod_certificates(course):
        return (
            f"Kubernetes {course.version().lstrip('v')} does not serve Pod certificates "
            "(GA and on by default from 1.37)"
        )
    wanted = {
        "create clusterroles": ("create", "rbac.authorization.k8s.io", "clusterroles", None),
        "create clusterrolebindings": (
            "create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
        "create clustertrustbundles": ("create", GROUP, "clustertrustbundles", None),
        f"attest for {signer}": ("attest", GROUP, "signers", signer),
        # RBAC lets you grant only what you hold: the signer's ClusterRole grants `sign`
        f"sign for {signer}": ("sign", GROUP, "signers", signer),
    }  # fmt: skip
    missing = []
    for label, (verb, group, resource, name) in wanted.items():
        review = course.authz.create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": verb, "group": group,
                                             "resource": resource, "name": name}}}
        )  # fmt: skip
        if not review.status.allowed:
            missing.append(label)
    return (
        f"running a signer takes rights you do not hold ({', '.join(missing)})" if missing else ""
    )


def start(course: Course, namespace: str = NAMESPACE) -> PodIdentityLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return PodIdentityLab(course, namespace).set_up()
