"""The browser classroom: JupyterHub beside the course cluster, one JupyterLab Pod per learner.

``python -m helpers.workshop up --learners N --hub`` (``make workshop-up HUB=1``) runs
:meth:`Hub.up` after the workshop's learners exist:

1. the course image (:mod:`.hubimage`) is built, or taken from the cache, and put into the
   cluster (imported into the local cluster's containerd, or loaded into kind's node; no
   registry);
2. the hub's own identity — the ServiceAccount ``hub`` in the workshop's namespace — gets
   what spawning needs and nothing else, in the learners' home namespaces only
   (:func:`rbac`): Pods (create, delete, get, list, watch) and Events (read) there, and
   ``create tokenreviews`` to check sign-in codes;
3. JupyterHub starts as a process of this machine with the standard proxy
   (configurable-http-proxy, from npm, cached), configured by :mod:`.hubapp`; it listens
   on loopback (``--hub-address`` picks another address for a classroom's LAN), and its
   internal API on this machine's address towards the Pods (the local cluster's bridge,
   or kind's Docker network, whose Pods this machine routes to:
   :mod:`helpers.cluster.podnetwork`);
4. each learner gets a sign-in link in a file of their own (0600; it holds their code).

The hub's kubeconfig holds a token bound to a Secret of the workshop's namespace and
expiring with the workshop; the instructor's commands reach the hub through its REST API
with a token only this machine holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import cluster
from ..accounts import create_token
from ..cluster import config as cluster_config
from ..cluster.errors import ClusterError
from ..cluster.podnetwork import PodNetwork
from ..cluster.progress import Progress
from ..cluster.waiting import poll_until
from . import kubeconfigs, policy, roster
from .hubimage import COURSE_IMAGE, ensure_course_image
from .policy import HOME
from .signin import issue_code

__all__ = ["HUB_ACCOUNT", "Hub", "HubSettings", "hub_username", "rbac"]

HUB_ACCOUNT = "hub"
RBAC_GROUP = "rbac.authorization.k8s.io"
#: The Secret the hub's own token is bound to: deleting it ends the hub's access at once.
HUB_ANCHOR = "hub-anchor"
#: configurable-http-proxy, JupyterHub's standard proxy (npm), cached outside the repository.
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"


def hub_username(workshop: str) -> str:
    """The hub's identity as the API server names it."""
    return f"system:serviceaccount:{roster.namespace(workshop)}:{HUB_ACCOUNT}"


def rbac(workshop: str, prefixes: Iterable[str], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The hub's rights: Pods and Events in each learner's home, and TokenReviews.

    >>> docs = rbac("ws1", ["ws1-01"], {})
    >>> [(d["kind"], d["metadata"].get("namespace", "")) for d in docs]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('ClusterRole', ''), ('ClusterRoleBinding', ''), ('Role', 'ws1-01-home'),
     ('RoleBinding', 'ws1-01-home')]
    """
    ns = roster.namespace(workshop)
    subject = [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": ns}]
    name = policy.object_name(workshop, "hub")
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": [
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": ["tokenreviews"],
                    "verbs": ["create"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": subject,
        },
    ]
    for prefix in prefixes:
        home = f"{prefix}-{HOME}"
        meta = {"name": name, "namespace": home, "labels": labels}
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["pods"],
                        "verbs": ["create", "delete", "get", "list", "watch"],
                    },
                    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                ],
            }
        )
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
                "subjects": subject,
            }
        )
    return docs


@dataclass
class HubSettings:
    """Where the hub listens and how big a learner's server is."""

    address: str = "127.0.0.1"
    port: int = 8000
    proxy_api_port: int = 8001
    hub_port: int = 8081
    mem_limit: str = "1G"
    mem_guarantee: str = "256M"
    cpu_limit: float = 1.0
    cpu_guarantee: float = 0.02
    start_timeout: int = 600  # 30 servers starting at once on two cores need about 190 s
    #: An existing cluster: the course image as its nodes pull it (``image`` pushes it to a
    #: registry), and this machine's address the Pods reach. Empty: the course builds the
    #: image and puts it into the local or kind cluster, which know the address.
    image: str = ""
    pod_address: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


class Hub:
    """The JupyterHub of workshop ``ws`` (a :class:`.classroom.Workshop`)."""

    def __init__(self, ws: Any, settings: HubSettings | None = None) -> None:
        self.ws = ws
        self.settings = settings or HubSettings()
        self.state = ws.dir / "hub"
        self.progress: Progress = ws.progress

    # -- files ------------------------------------------------------------------------------
    @property
    def settings_file(self) -> Path:
        return self.state / "hub.json"

    @property
    def pid_file(self) -> Path:
        return self.state / "hub.pid"

    @property
    def log_file(self) -> Path:
        return self.state / "hub.log"

    def signin_file(self, prefix: str) -> Path:
        return self.ws.dir / f"{prefix}.signin"

    # -- up -----------------------------------------------------------------------------------
    def up(self, prefixes: list[str], duration_seconds: int) -> dict[str, Path]:
        """Image, identity, process; a sign-in link file per learner (prefix -> file)."""
        backend = self.ws.admin.backend
        with self.progress.stage(f"this machine and the {backend} cluster's Pods"):
            net = self.reach_pods()
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.settings.image:
            archive = ensure_course_image(cluster_config.Layout(), self.progress)
            cluster.load_images(backend, {COURSE_IMAGE: archive}, self.progress)
        proxy = ensure_proxy(self.progress)
        with self.progress.stage(f"workshop {self.ws.name}: the hub's identity and rights"):
            kubeconfig = self._identity(sorted(self.ws.roster().learners), duration_seconds)
        self.stop()
        self._write_settings(kubeconfig, proxy, net.host_address)
        with self.progress.stage(f"starting JupyterHub on {self.settings.url}"):
            self._start()
        return self.hand_out(prefixes, duration_seconds)

    def reach_pods(self) -> PodNetwork:
        """The hub's proxy opens the learners' Pods by IP, and their servers call the hub."""
        return cluster.pod_network(
            self.ws.admin.backend, self.ws.admin.core, self.settings.pod_address
        )

    def _identity(self, learners: list[str], duration_seconds: int) -> Path:
        ns = roster.namespace(self.ws.name)
        labels = self.ws._labels()
        self.ws._apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": HUB_ACCOUNT, "namespace": ns, "labels": labels},
                "automountServiceAccountToken": False,
            }
        )
        self.ws._apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": HUB_ANCHOR, "namespace": ns, "labels": labels},
                "stringData": {"why": "the hub's token is bound to this Secret"},
            }
        )
        for doc in rbac(self.ws.name, learners, labels):
            self.ws._apply(doc)
        core = self.ws.admin.core
        anchor = core.read_namespaced_secret(HUB_ANCHOR, ns, _request_timeout=30)
        token, status = create_token(
            core, ns, HUB_ACCOUNT, expiration_seconds=duration_seconds, bound_to=anchor
        )
        ca = Path(self.ws.admin.api.configuration.ssl_ca_cert).read_bytes()
        doc = kubeconfigs.kubeconfig(
            self.ws.admin.server,
            ca,
            token.reveal(),
            HUB_ACCOUNT,
            status.expiration_timestamp,
            self.ws.name,
        )
        return kubeconfigs.write(self.state / "hub.kubeconfig", doc)

    def _write_settings(self, kubeconfig: Path, proxy: Path, hub_ip: str) -> None:
        """``hub_ip``: where the learners' Pods reach the hub's own API (this machine)."""
        s = self.settings
        token_file = self.state / "instructor.token"
        if not token_file.is_file():
            _write_secret(token_file, secrets.token_hex(32))
        doc = {
            "ip": s.address,
            "port": s.port,
            "hub_ip": hub_ip,
            "hub_port": s.hub_port,
            "proxy_api_port": s.proxy_api_port,
            "proxy": str(proxy),
            "state": str(self.state),
            "kubeconfig": str(kubeconfig),
            "learners": sorted(self.ws.roster().learners),
            "workshop": self.ws.name,
            "instructor_token": token_file.read_text().strip(),
            "image": s.image or COURSE_IMAGE,
            "pull_policy": "IfNotPresent" if s.image else "Never",
            "mem_limit": s.mem_limit,
            "mem_guarantee": s.mem_guarantee,
            "cpu_limit": s.cpu_limit,
            "cpu_guarantee": s.cpu_guarantee,
            "start_timeout": s.start_timeout,
            "labels": self.ws._labels(),
        }
        _write_secret(self.settings_file, json.dumps(doc, indent=1))
        (self.state / "jupyterhub_config.py").write_text(
            "# written by helpers.workshop.hub: the course's JupyterHub\n"
            "from helpers.workshop.hubapp import configure\n\n"
            f"configure(c, {str(self.settings_file)!r})  # noqa: F821\n"
        )

    def _start(self) -> None:
        env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32)}
        env.pop("KUBECONFIG", None)
        env["KUBECONFIG"] = str(self.state / "hub.kubeconfig")
        jupyterhub = Path(sys.executable).parent / "jupyterhub"
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [str(jupyterhub), "-f", str(self.state / "jupyterhub_config.py")],
                cwd=self.state,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        poll_until(
            lambda: proc.poll() is not None or self.healthy(),
            timeout=90,
            interval=0.5,
            what="JupyterHub to answer",
            error=ClusterError,
            why=lambda: f"see its log, {self.log_file}",
        )
        if proc.poll() is not None:
            raise ClusterError(
                f"JupyterHub stopped at start (exit {proc.returncode}): its log, "
                f"{self.log_file}, says why."
            )

    def extend(self, duration_seconds: int) -> dict[str, Path]:
        """A new token for the hub and new links, valid ``duration_seconds`` from now.

        The hub restarts with its new kubeconfig; the learners' servers keep running
        (``cleanup_servers`` is off) and their sessions stay signed in.
        """
        learners = sorted(self.ws.roster().learners)
        kubeconfig = self._identity(learners, duration_seconds)
        net = self.reach_pods()
        self.stop()
        self._write_settings(kubeconfig, ensure_proxy(self.progress), net.host_address)
        with self.progress.stage(f"restarting JupyterHub on {self.settings.url}"):
            self._start()
        return self.hand_out(learners, duration_seconds)

    def hand_out(self, prefixes: Iterable[str], duration_seconds: int) -> dict[str, Path]:
        """A new sign-in link per learner (the earlier one keeps working until used)."""
        out = {}
        for prefix in prefixes:
            code, _ = issue_code(self.ws.admin.core, prefix, duration_seconds)
            link = f"{self.settings.url}/hub/login?code={code.reveal()}\n"
            out[prefix] = _write_secret(self.signin_file(prefix), link)
        return out

    # -- the running hub ------------------------------------------------------------------------
    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.settings.url}/hub/health", timeout=3) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def running(self) -> bool:
        pid = self._pid()
        return bool(pid) and _alive(pid)

    def _pid(self) -> int:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return 0

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        """One call of the hub's REST API as the instructor's service; the decoded answer."""
        token = (self.state / "instructor.token").read_text().strip()
        req = urllib.request.Request(
            f"{self.settings.url}/hub/api{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
        return json.loads(text) if text else None

    def users(self) -> list[dict[str, Any]]:
        return self.api("GET", "/users") if self.running() else []

    def forget(self, prefix: str) -> None:
        """Stop the learner's server and remove them from the hub (their session ends)."""
        if not self.running():
            return
        try:
            self.api("DELETE", f"/users/{prefix}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        self.signin_file(prefix).unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the hub and its proxy (their process group); the servers go with the hub."""
        pid = self._pid()
        if pid and _alive(pid):
            with self.progress.stage("stopping JupyterHub"):
                _signal_group(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if _alive(pid):
                    _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def down(self) -> None:
        """Stop the hub; remove its files (the workshop's down removes its objects)."""
        self.stop()
        for prefix_file in self.ws.dir.glob("*.signin"):
            prefix_file.unlink(missing_ok=True)
        shutil.rmtree(self.state, ignore_errors=True)


def ensure_proxy(progress: Progress) -> Path:
    """configurable-http-proxy from npm, installed once into the course's cache."""
    where = cluster_config.cache_dir() / "hub" / PROXY_PACKAGE.replace("@", "-")
    binary = where / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.is_file():
        return binary
    if not shutil.which("npm"):
        raise ClusterError(
            "npm is not installed, and the hub's proxy (configurable-http-proxy) comes from "
            "npm: install Node.js 18 or newer (apt-get install nodejs npm) and retry."
        )
    with progress.stage(f"installing {PROXY_PACKAGE} (npm)"):
        where.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(where), PROXY_PACKAGE],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0 or not binary.is_file():
            raise ClusterError(
                f"npm could not install {PROXY_PACKAGE} ({proc.stderr.strip()[-200:]}): check "
                "your network access to the npm registry and retry."
            )
    return binary


def _write_secret(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(text)
    return path


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs; a child of ours that has ended is reaped (a zombie
    still answers ``kill(pid, 0)``: the instructor's process that started the hub, or a test,
    would wait for it in vain)."""
    with contextlib.suppress(ChildProcessError):
        ended, _ = os.waitpid(pid, os.WNOHANG)
        if ended == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
