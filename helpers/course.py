"""Connect a notebook (or a test) to the course cluster and get ready-made API clients.

Every notebook's setup cell is ``course = connect()``: it finds the cluster ``make lab`` /
``make cluster-up`` started (starting it if none runs), checks that the API server answers,
points ``kubectl`` shell cells (``!kubectl …``) at the same cluster, and returns a
:class:`Course` with the official client's APIs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from . import cluster
from .cluster.controlplane import ControlPlane, control_plane
from .cluster.errors import ClusterError
from .cluster.node import Node, node_of, starts_its_own
from .cluster.settings import choose as choose_settings
from .cluster.waiting import deleted, get_or_none, gone, poll_until
from .display import readable_tables
from .errors import translate_api_errors
from .facts import check_version
from .names import prefix, shell_env, workshop
from .namespaces import empty, is_workshop_namespace
from .tokens import Token

__all__ = ["Course", "connect"]


@dataclass
class Course:
    """The course cluster, as a cluster administrator sees it (``system:masters``)."""

    api: client.ApiClient
    kubeconfig: Path
    backend: str
    _namespaces: list[str] = field(default_factory=list, repr=False)

    # -- the official client's API groups ------------------------------------------------
    @cached_property
    def core(self) -> client.CoreV1Api:
        """Pods, ServiceAccounts, Secrets, Namespaces, Nodes …"""
        return client.CoreV1Api(self.api)

    @cached_property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        """Roles, ClusterRoles and their bindings."""
        return client.RbacAuthorizationV1Api(self.api)

    @cached_property
    def authn(self) -> client.AuthenticationV1Api:
        """TokenReview and SelfSubjectReview."""
        return client.AuthenticationV1Api(self.api)

    @cached_property
    def authz(self) -> client.AuthorizationV1Api:
        """SubjectAccessReview and SelfSubjectAccessReview."""
        return client.AuthorizationV1Api(self.api)

    @property
    def server(self) -> str:
        """The API server's URL."""
        return self.api.configuration.host

    @cached_property
    def control_plane(self) -> ControlPlane:
        """Flags and key files of kube-apiserver and kube-controller-manager, where visible.

        ``course.control_plane.visible`` is False on an existing cluster (kubeconfig
        backend): its control plane is out of reach, and the course teaches from the API.
        """
        return control_plane(self.backend)

    @cached_property
    def node(self) -> Node | None:
        """The cluster's node as this machine reaches it (files, processes), or ``None``.

        ``None`` on an existing cluster (kubeconfig backend): its nodes are out of reach.
        """
        return node_of(self.backend)

    @property
    def own_cluster(self) -> bool:
        """True on the clusters the course builds itself (local, kind): their defaults are
        upstream Kubernetes' and their node is in reach; False on an existing cluster."""
        return starts_its_own(self.backend)

    @translate_api_errors
    def version(self) -> str:
        """The API server's Kubernetes version, e.g. ``v1.36.1``."""
        return client.VersionApi(self.api).get_code().git_version

    # -- clients with other credentials ------------------------------------------------
    def client_for_token(self, token: Token | str) -> client.ApiClient:
        """An API client that authenticates with ``token`` only (no client certificate)."""
        raw = token.reveal() if isinstance(token, Token) else token
        base = self.api.configuration
        cfg = client.Configuration()
        cfg.host = base.host
        cfg.ssl_ca_cert = base.ssl_ca_cert
        cfg.verify_ssl = base.verify_ssl
        cfg.api_key = {"authorization": raw}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return with_timeouts(client.ApiClient(cfg))

    def get_raw(self, path: str, token: Token | str | None = None) -> bytes:
        """GET a non-resource path (e.g. ``/openid/v1/jwks``) as admin, or with ``token``."""
        api = self.client_for_token(token) if token is not None else self.api
        with translate_api_errors():
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                path,
                header_params={"Accept": "application/json, */*"},
                auth_settings=["BearerToken"],
            )
            resp = api.call_api(method, url, header_params=headers)
            data = resp.read()
            if resp.status >= 400:
                raise ApiException(http_resp=resp)
        return data

    # -- kubectl -------------------------------------------------------------------------
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> str:
        """Run kubectl against the course cluster and return its output (stdout+stderr).

        With ``check=True`` a non-zero exit raises a ``RuntimeError`` carrying kubectl's
        own message (one line per problem, as kubectl prints it). A kubectl that has not
        finished after ``timeout`` seconds is stopped: a ClusterError says so.
        """
        try:
            proc = subprocess.run(
                [str(_kubectl()), *args],
                input=input,
                capture_output=True,
                text=True,
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"`kubectl {' '.join(args)}` had not finished after {timeout:.0f} s: check that "
                "the cluster answers (`make cluster-status`) and run the cell again."
            ) from None
        out = proc.stdout + proc.stderr
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.strip()}")
        return out

    # -- namespaces ----------------------------------------------------------------------
    def fresh_namespace(self, name: str, timeout: float = 180) -> str:
        """Create namespace ``name`` from scratch (deleting an old one first).

        Returns once the namespace's ``default`` ServiceAccount exists: the
        ServiceAccount controller creates it a moment *after* the namespace. A workshop's
        namespace (:mod:`helpers.namespaces`) is emptied instead: it stays, with the
        RoleBinding that lets you work in it.
        """
        if not self._empty_if_workshop(name, timeout):
            self.delete_namespace(name, wait=True, timeout=timeout)
            # a namespace says which Pod Security level it enforces (a workshop insists)
            labels = {"pod-security.kubernetes.io/enforce": "baseline"} if workshop() else None
            with translate_api_errors():
                self.core.create_namespace(
                    client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
                )
        self._namespaces.append(name)
        poll_until(
            lambda: get_or_none(lambda: self.core.read_namespaced_service_account("default", name)),
            timeout=timeout,
            interval=0.1,
            what=f"the default ServiceAccount of namespace {name}",
            error=ClusterError,
        )
        return name

    def delete_namespace(self, name: str, wait: bool = False, timeout: float = 90) -> None:
        """Delete namespace ``name`` (if it exists); optionally wait until it is gone.

        A workshop's namespace is emptied instead (and this waits for its Pods to go).
        """
        if name in self._namespaces:
            self._namespaces.remove(name)
        if self._empty_if_workshop(name, timeout):
            return
        deleted(lambda: self.core.delete_namespace(name))
        if not wait:
            return
        poll_until(
            lambda: gone(lambda: self.core.read_namespace(name)),
            timeout=timeout,
            what=f"namespace {name} to go (the namespace controller empties it first)",
            error=ClusterError,
        )

    def _empty_if_workshop(self, name: str, timeout: float) -> bool:
        """Empty ``name`` if it is a workshop's namespace; False if it is not one (or absent)."""
        if not prefix():
            return False  # only a prefixed run can be in a workshop
        found = get_or_none(lambda: self.core.read_namespace(name))
        if found is None or not is_workshop_namespace(found):
            return False
        with translate_api_errors():
            empty(self.api, name, timeout=timeout)
        return True

    def reconnect(self) -> None:
        """Reload the kubeconfig (after the cluster was restarted with fresh keys)."""
        self.api = with_timeouts(config.new_client_from_config(config_file=str(self.kubeconfig)))
        for name in ("core", "rbac", "authn", "authz", "control_plane"):
            self.__dict__.pop(name, None)

    def cleanup(self, wait: bool = False) -> None:
        """Delete every namespace this Course created."""
        while self._namespaces:
            self.delete_namespace(self._namespaces.pop(), wait=wait)


def _kubectl() -> Path:
    from .cluster.kind import kubectl_path

    return kubectl_path()


def _ensure_kubectl_on_path() -> None:
    """Make ``!kubectl`` in notebooks find the kubectl installed with the course."""
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in parts:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])


#: Every API request of the course gives up after this long (connect, read) unless it says
#: otherwise (``_request_timeout=``): nothing waits for ever on a cluster that stopped answering.
REQUEST_TIMEOUT = (10.0, 120.0)


def with_timeouts(api: client.ApiClient, timeout: tuple[float, float] = REQUEST_TIMEOUT):
    """``api``, whose requests without a ``_request_timeout`` get ``timeout``; a request
    that times out raises a ClusterError naming the server, in one sentence."""
    import urllib3

    rest = api.rest_client
    if getattr(rest, "_sa_course_timeout", None):
        return api
    original = rest.request

    def request(*args, _request_timeout=None, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return original(*args, _request_timeout=_request_timeout or timeout, **kwargs)
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.MaxRetryError) as exc:
            if isinstance(exc, urllib3.exceptions.MaxRetryError) and not isinstance(
                exc.reason, urllib3.exceptions.TimeoutError
            ):
                raise
            raise ClusterError(
                f"The API server at {api.configuration.host} did not answer within "
                f"{_request_timeout or timeout[1]} s: check that the cluster runs "
                "(`make cluster-status`) and run the cell again."
            ) from None

    rest.request = request
    rest._sa_course_timeout = timeout
    return api


def _client(kubeconfig: Path, backend: str) -> client.ApiClient:
    try:
        api = with_timeouts(config.new_client_from_config(config_file=str(kubeconfig)))
        follow_token_file(api, kubeconfig)
        return api
    except Exception as exc:  # the kubernetes client raises ConfigException, ValueError, …
        raise ClusterError(
            f"The kubeconfig of the {backend} backend ({kubeconfig}) cannot be used "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
            "check the file, or run `make cluster-up` to write a new one."
        ) from None


def follow_token_file(api: client.ApiClient, kubeconfig: Path) -> None:
    """If the kubeconfig's credential is a ``tokenFile`` (a Pod's projected token, which the
    kubelet replaces before it expires), read the file again whenever it changed.

    The kubernetes client reads a ``tokenFile`` once; kubectl and client-go read it again.
    In a learner's JupyterLab Pod the file is the only credential, and a kernel can outlive
    the token it started with.
    """
    doc = yaml.safe_load(kubeconfig.read_text()) or {}
    current = doc.get("current-context")
    context = next((c["context"] for c in doc.get("contexts") or [] if c["name"] == current), {})
    user = next((u["user"] for u in doc.get("users") or [] if u["name"] == context.get("user")), {})
    token_file = (user or {}).get("tokenFile")
    if not token_file:
        return
    path = kubeconfig.parent / token_file  # an absolute path stays as it is
    seen = {"mtime": path.stat().st_mtime_ns}

    def reread(cfg: client.Configuration) -> None:
        mtime = path.stat().st_mtime_ns  # the kubelet swaps a symlink: stat follows it
        if mtime != seen["mtime"]:
            seen["mtime"] = mtime
            cfg.api_key["BearerToken"] = "Bearer " + path.read_text().strip()

    api.configuration.refresh_api_key_hook = reread


def connect(
    start: bool = True,
    backend: str | None = None,
    *,
    kubeconfig: str | Path | None = None,
    prefix: str | None = None,
) -> Course:
    """Connect to the course cluster; start it first if none is running and ``start``.

    ``backend`` picks the cluster (``local``, ``kind``, ``kubeconfig``); by default the one
    ``COURSE_BACKEND`` names, else the one started last. ``kubeconfig`` connects to an
    existing cluster through that file (the kubeconfig backend); ``prefix`` is the one every
    name the course creates starts with (a workshop learner's, e.g. ``ws1-07``). What is
    given here holds for the rest of this process, in place of ``COURSE_BACKEND``,
    ``COURSE_KUBECONFIG`` and ``COURSE_PREFIX`` (:mod:`helpers.cluster.settings`).

    Then check that the cluster is new enough (:data:`helpers.facts.MIN_KUBERNETES`) and,
    on an existing cluster (the kubeconfig backend), that this identity holds everything
    the course needs — each failure is one sentence, before any notebook fails halfway.
    Sets ``KUBECONFIG`` for this process, so ``%%bash`` kubectl cells use the same cluster,
    and the course's names (:func:`helpers.names.shell_env`: ``$MANIFESTS``, ``$CONTROLLER_NS`` …).
    """
    if kubeconfig is not None:
        backend = backend or "kubeconfig"
    choose_settings(backend=backend, kubeconfig=kubeconfig, prefix=prefix)
    recorded = cluster.current(backend)
    if recorded is None:
        if not start:
            raise ClusterError(
                "No course cluster is running: start one with `make cluster-up` (or `make lab`)."
            )
        cluster.up(backend=backend)
        recorded = cluster.current(backend)
        assert recorded is not None
    backend = recorded["backend"]
    kubeconfig = Path(recorded["kubeconfig"])
    api = _client(kubeconfig, backend)
    if not cluster.answers(api):
        if not start or not starts_its_own(backend):
            raise ClusterError(
                f"The course cluster ({backend}) does not answer at "
                f"{api.configuration.host}: "
                + (
                    "run `make cluster-up` and try again."
                    if starts_its_own(backend)
                    else "check that it runs and that the kubeconfig is the right one."
                )
            )
        cluster.up(backend=backend)
        api = _client(kubeconfig, backend)
        if not cluster.answers(api):
            raise ClusterError(
                f"The course cluster still does not answer at {api.configuration.host}: "
                "run `make cluster-status` to see which component is down."
            )
    os.environ["KUBECONFIG"] = str(kubeconfig)
    os.environ.update(shell_env())  # $MANIFESTS, $CONTROLLER_NS … for %%bash cells
    _ensure_kubectl_on_path()
    with contextlib.suppress(Exception):
        api.user_agent = "sa-course/helpers"
    course = Course(api=api, kubeconfig=kubeconfig, backend=backend)
    readable_tables()  # in a notebook: tables left-aligned, long text wrapped, not cut
    check_version(course.version())
    if not course.own_cluster:
        from .preflight import check_permissions

        check_permissions(api)
    return course
