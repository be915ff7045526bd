"""A second API server beside the local cluster: "another cluster" that trusts the course's.

Notebook 17 needs a Kubernetes API server that is *not* the course cluster's: one with its
own etcd, its own CA, its own ServiceAccount issuer and its own RBAC, whose
``AuthenticationConfiguration`` trusts the course cluster's ServiceAccount issuer through
a JWT authenticator. It is the same kube-apiserver and etcd binaries the local cluster
runs (read from its running processes, so the version always matches), started as two
more supervised processes:

- etcd on 127.0.0.1 (:data:`ETCD_CLIENT_PORT`), data under the local cluster's state;
- kube-apiserver on the node's bridge address (:data:`API_PORT`), so Pods reach it as
  they reach the course's own API server; ``--authorization-mode=RBAC`` only, no
  controllers, no nodes.

Everything it has lives in ``<state>/partner``: :meth:`PartnerServer.down` stops it and
removes the directory, and the local cluster's ``down`` (which removes the state
directory and kills every process that names it) leaves nothing of it either.

Only the local backend can run it: kind's and an existing cluster's nodes are not this
machine's processes (:func:`unavailable_reason` says so in one sentence).
"""

from __future__ import annotations

import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import config, pki
from .errors import ClusterError, ComponentFailed
from .locks import file_lock
from .supervise import Supervisor

__all__ = [
    "API_PORT",
    "ISSUER",
    "Partner",
    "PartnerServer",
    "apiserver_args",
    "etcd_args",
    "unavailable_reason",
]

#: The partner API server's port on the node's bridge address (the course's is 6443).
API_PORT = 16443
ETCD_CLIENT_PORT = 22379
ETCD_PEER_PORT = 22380
#: The partner's *own* ServiceAccount issuer. It must differ from every issuer its JWT
#: authenticators trust (kube-apiserver refuses a configuration that names its own).
ISSUER = "https://partner.sa-course.test"
#: Its Service range: kube-apiserver needs one, though nothing here uses Services.
SERVICE_SUBNET = "10.97.0.0/24"
#: How long a start or a reload of the configuration may take before we give up.
START_TIMEOUT = 60.0
#: A reload checks the new JWT authenticators every 10 s for up to a minute
#: (``pkg/kubeapiserver/authenticator/config.go``), then gives up.
RELOAD_TIMEOUT = 75.0
RELOADS_METRIC = "apiserver_authentication_config_controller_automatic_reloads_total"


def unavailable_reason(backend: str) -> str:
    """'' where a partner API server can run; otherwise one sentence saying why not.

    >>> unavailable_reason("local")
    ''
    >>> unavailable_reason("kind")[:60]
    'the kind backend runs Kubernetes inside a Docker container, '
    """
    if backend == "local":
        return ""
    if backend == "kind":
        return (
            "the kind backend runs Kubernetes inside a Docker container, where the course "
            "cannot start a second API server beside it (the local backend can: "
            "COURSE_BACKEND=local)"
        )
    return (
        "on an existing cluster (and as a workshop learner) the course cannot start an API "
        "server of its own beside it, nor make the cluster's issuer keys public (the local "
        "backend can: COURSE_BACKEND=local)"
    )


def etcd_args(etcd: Path, data: Path) -> list[str]:
    """The partner's own etcd: plain HTTP on loopback, like the course's (no fsync)."""
    client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    return [
        str(etcd),
        "--name=partner",
        f"--data-dir={data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=partner={peer}",
        "--log-level=warn",
        "--unsafe-no-fsync",
    ]


def apiserver_args(apiserver: Path, home: Path) -> list[str]:
    """The partner's kube-apiserver: its own keys, the authentication file, RBAC only."""
    keys = home / "pki"
    return [
        str(apiserver),
        f"--bind-address={config.NODE_IP}",
        f"--advertise-address={config.NODE_IP}",
        f"--secure-port={API_PORT}",
        f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--tls-cert-file={keys / 'apiserver.crt'}",
        f"--tls-private-key-file={keys / 'apiserver.key'}",
        f"--client-ca-file={keys / 'ca.crt'}",
        f"--service-account-issuer={ISSUER}",
        f"--service-account-signing-key-file={keys / 'sa.key'}",
        f"--service-account-key-file={keys / 'sa.pub'}",
        f"--authentication-config={home / 'authentication-config.yaml'}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_SUBNET}",
        "--profiling=false",
        "--v=1",
    ]


@dataclass(frozen=True)
class Partner:
    """A running partner API server, as its administrator sees it."""

    url: str
    ca_pem: bytes
    #: Its admin kubeconfig (``system:masters`` of *its* CA; 0600).
    kubeconfig: Path
    #: The AuthenticationConfiguration file it watches (rewrite it to reconfigure).
    config_file: Path


class PartnerServer:
    """Start, reconfigure and stop the partner API server of the local cluster."""

    def __init__(self, layout: config.Layout | None = None) -> None:
        self.layout = layout or config.Layout()
        self.home = self.layout.state / "partner"
        self.sup = Supervisor(self.home / "run", self.home / "logs")

    @property
    def url(self) -> str:
        return f"https://{config.NODE_IP}:{API_PORT}"

    def _partner(self) -> Partner:
        return Partner(
            url=self.url,
            ca_pem=(self.home / "pki" / "ca.crt").read_bytes(),
            kubeconfig=self.home / "admin.kubeconfig",
            config_file=self.home / "authentication-config.yaml",
        )

    def running(self) -> bool:
        """True if both processes run and the API server answers /readyz."""
        return (
            self.sup.alive("etcd")
            and self.sup.alive("kube-apiserver")
            and self._get("/readyz", admin=False) == 200
        )

    def up(self, authentication_config: str) -> Partner:
        """Start it afresh with ``authentication_config`` (a YAML document).

        Fresh keys and an empty etcd every time: one left running by an earlier run is
        stopped first, so nothing of that run (RBAC, objects) is carried over.
        """
        with file_lock(self.layout.cache / "locks" / "partner.lock", "starting the partner"):
            self.down()
            binaries = _local_binaries(self.layout)
            self.home.mkdir(parents=True)
            self.home.chmod(0o700)
            _write_pki(self.home / "pki")
            config_file = self.home / "authentication-config.yaml"
            pki.write_secret(config_file, authentication_config.encode())
            self.sup.start("etcd", etcd_args(binaries["etcd"], self.home / "etcd"))
            self.sup.wait_for(
                "etcd",
                lambda: _http(f"http://127.0.0.1:{ETCD_CLIENT_PORT}/health") == 200,
                "healthy",
                timeout=START_TIMEOUT,
            )
            self.sup.start("kube-apiserver", apiserver_args(binaries["kube-apiserver"], self.home))
            try:
                self.sup.wait_for(
                    "kube-apiserver",
                    lambda: self._get("/readyz", admin=False) == 200,
                    "/readyz ok",
                    timeout=START_TIMEOUT,
                )
            except ComponentFailed:
                if self.sup.alive("kube-apiserver"):
                    raise
                raise ClusterError(
                    "The partner API server stopped at start: " + self.last_complaint()
                ) from None
            self.sup.wait_for(  # made by the API server's own bootstrap, a moment after /readyz
                "kube-apiserver",
                lambda: self._get("/api/v1/namespaces/default") == 200,
                "the default namespace",
                timeout=START_TIMEOUT,
            )
            kubeconfig = self.home / "admin.kubeconfig"
            pki.write_kubeconfig(kubeconfig, self.home / "pki", "admin", self.url)
            return self._partner()

    def reloads(self) -> dict[str, float]:
        """How often it has reloaded its configuration file: ``{"success": n, "failure": n}``."""
        counts = {"success": 0.0, "failure": 0.0}
        for line in self._metrics().splitlines():
            if line.startswith(RELOADS_METRIC + "{"):
                labels, _, value = line.rpartition(" ")
                for status in counts:
                    if f'status="{status}"' in labels:
                        counts[status] += float(value)
        return counts

    def configure(self, authentication_config: str) -> float:
        """Rewrite its AuthenticationConfiguration; return the seconds until it reloaded.

        The file is replaced by a rename. The API server watches it, builds the new JWT
        authenticators, checks every 10 s until each has read its issuer's discovery document,
        then swaps them in (the keys come with the first token). A file it refuses raises
        ClusterError with the reason from its log.
        """
        path = self.home / "authentication-config.yaml"
        if path.read_text() == authentication_config:
            return 0.0
        before = self.reloads()
        start = time.monotonic()
        # Atomically (a rename), as a ConfigMap volume updates a file: the server watches the
        # file, and a half-written one would be read, and refused, as a broken configuration.
        fresh = path.with_suffix(".new")
        pki.write_secret(fresh, authentication_config.encode())
        fresh.replace(path)
        while time.monotonic() - start < RELOAD_TIMEOUT:
            now = self.reloads()
            if now["success"] > before["success"]:
                return time.monotonic() - start
            if now["failure"] > before["failure"]:
                raise ClusterError(
                    "The partner API server refused its new authentication configuration: "
                    + self.last_complaint()
                )
            time.sleep(0.5)
        raise ClusterError(
            f"The partner API server did not reload its configuration within "
            f"{RELOAD_TIMEOUT:.0f} s: {self.last_complaint()}"
        )

    def down(self) -> None:
        """Stop both processes and remove everything the partner had."""
        for name in ("kube-apiserver", "etcd"):
            self.sup.stop(name, timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)

    # -- talking to it as its administrator ---------------------------------------------
    def _context(self, admin: bool) -> ssl.SSLContext:
        keys = self.home / "pki"
        ctx = ssl.create_default_context(cafile=str(keys / "ca.crt"))
        if admin:
            ctx.load_cert_chain(str(keys / "admin.crt"), str(keys / "admin.key"))
        return ctx

    def _get(self, path: str, admin: bool = True) -> int:
        return _http(self.url + path, self._context(admin))

    def _metrics(self) -> str:
        req = urllib.request.Request(self.url + "/metrics")
        with urllib.request.urlopen(req, context=self._context(True), timeout=5) as resp:
            return resp.read().decode()

    def last_complaint(self) -> str:
        """The API server's last complaint about its configuration, from its log."""
        lines = self.sup.log("kube-apiserver").read_text(errors="replace").splitlines()
        words = ("authentication config", "oidc", "command failed", "Error:")
        marks = [i for i, ln in enumerate(lines) if any(w in ln for w in words)]
        if not marks:
            return (lines or ["(its log is empty)"])[-1][-400:]
        # the complaint's own lines: up to the next log entry (another component's noise)
        block = [lines[marks[-1]]]
        for line in lines[marks[-1] + 1 : marks[-1] + 8]:
            if _LOG_ENTRY.match(line):
                break
            block.append(line)
        return " ".join(ln.strip() for ln in block if ln.strip() != ">")[:600]


#: The start of a klog line: severity, date, time (``E1203 16:23:15.133187``).
_LOG_ENTRY = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")


def _http(url: str, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _write_pki(keys: Path) -> None:
    """Its own CA, serving certificate (the bridge address), admin and ServiceAccount key."""
    keys.mkdir(parents=True, exist_ok=True)
    ca = pki.new_ca("sa-course-partner-ca")
    pki.write_public(keys / "ca.crt", ca.cert_pem)
    pki.write_secret(keys / "ca.key", ca.key_pem)
    for stem, pair in {
        "apiserver": pki.issue(ca, "partner-apiserver", server=True, sans=(config.NODE_IP,)),
        "admin": pki.issue(ca, "partner-admin", ("system:masters",), client=True),
    }.items():
        pki.write_public(keys / f"{stem}.crt", pair.cert_pem)
        pki.write_secret(keys / f"{stem}.key", pair.key_pem)
    pki.write_service_account_key_pair(keys / "sa.key", keys / "sa.pub")


def _local_binaries(layout: config.Layout) -> dict[str, Path]:
    """The etcd and kube-apiserver the running local cluster was started from."""
    sup = Supervisor(layout.run, layout.logs)
    found: dict[str, Path] = {}
    for name in ("etcd", "kube-apiserver"):
        pid = sup.pid(name)
        if pid is None:
            raise ClusterError(
                "The local cluster is not running: start it with `make cluster-up`, then run "
                "this again."
            )
        found[name] = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode())
    return found
