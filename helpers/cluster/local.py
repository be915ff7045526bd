"""The local backend: a real single-node cluster made of Kubernetes' own processes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (with runc),
the kubelet, kube-proxy and CoreDNS run as plain processes on this machine, supervised by
:class:`~helpers.cluster.supervise.Supervisor`, all state in one directory. No Docker, no
registry: the two images are built locally.

Pods live on our own bridge (``sacourse0``, 10.85.0.0/24). The node's address on it,
10.85.0.1, is the only address beyond loopback that anything listens on: kube-apiserver
(the ``kubernetes`` Service's endpoint) and CoreDNS (behind the ``kube-dns`` Service).
kube-proxy DNATs a Service IP to that address, so a Pod's packet is delivered to the host
itself and never forwarded: no IP forwarding, no masquerade, no FORWARD-chain rule
(Docker's, say) on its path.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import auditpolicy, authnconfig, build, components, config, host, pki, toolsimage, versions
from .errors import ClusterError, ComponentFailed
from .progress import Progress
from .settings import settings
from .supervise import Supervisor

#: containerd 2.x puts shim sockets here whatever its state dir; removed when empty.
#: Images larger than this (the tools and course images) are unpacked when their first
#: container starts, not when imported: importing is then little more than a copy.
LARGE_IMAGE_BYTES = 16 * 2**20
SHIM_SOCKET_DIRS = (Path("/run/containerd/s"), Path("/run/containerd"))

#: Start order; ``down()`` stops them in reverse.
COMPONENTS = (
    "etcd",
    "containerd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "coredns",
    "kubelet",
)


@dataclass
class ComponentStatus:
    """One process of the local cluster."""

    name: str
    pid: int | None
    rss_mib: float = 0.0

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass
class LocalStatus:
    """What ``status()`` found: processes, API health, the node."""

    state_dir: Path
    exists: bool
    components: list[ComponentStatus] = field(default_factory=list)
    api_ready: bool = False
    node_ready: bool = False
    #: The Kubernetes version ``up()`` started ('' if unknown).
    kubernetes: str = ""

    @property
    def healthy(self) -> bool:
        return self.api_ready and all(c.running for c in self.components)

    @property
    def stale(self) -> bool:
        """State is on disk but the cluster is not healthy (crashed, killed, half-started)."""
        return self.exists and not self.healthy


class LocalCluster:
    """The local single-node cluster. ``up()`` is idempotent; ``down()`` leaves nothing."""

    name = "local"

    def __init__(self, layout: config.Layout | None = None, progress: Progress | None = None):
        self.layout = layout or config.Layout()
        self.progress = progress or Progress()
        self.sup = Supervisor(self.layout.run, self.layout.logs)

    # -- public surface ------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig of the running cluster (system:masters; 0600)."""
        return self.layout.admin_kubeconfig

    @property
    def ports(self) -> config.Ports:
        """Ports of the running cluster, as recorded by ``up()`` (defaults otherwise)."""
        try:
            return config.Ports(**self._recorded()["ports"])
        except (KeyError, TypeError):
            return config.Ports.from_env()

    @property
    def lan_address(self) -> str:
        """The LAN address the running cluster also serves its API on ('' for none)."""
        return self._recorded().get("lan_address") or ""

    def lan_url(self) -> str:
        """``https://<LAN address>:<port>`` of the running cluster's API server, or ''."""
        lan = self.lan_address
        if not lan:
            return ""
        host_part = f"[{lan}]" if ":" in lan else lan
        return f"https://{host_part}:{self.ports.apiserver}"

    @property
    def kube_proxy_mode(self) -> str | None:
        """nftables or iptables, as ``up()`` chose for the running cluster (None: no cluster)."""
        return self._recorded().get("kube_proxy_mode")

    def _recorded(self) -> dict:
        """What ``up()`` wrote to cluster.json, or {} if there is none."""
        try:
            return json.loads(self.layout.cluster_file.read_text())
        except (OSError, ValueError):
            return {}

    def status(self) -> LocalStatus:
        """Processes, API readiness and node readiness, without changing anything."""
        st = LocalStatus(self.layout.state, self.layout.cluster_file.exists())
        st.kubernetes = self._recorded().get("kubernetes", "")
        for name in COMPONENTS:
            pid = self.sup.pid(name)
            st.components.append(ComponentStatus(name, pid, _rss_mib(pid) if pid else 0.0))
        if st.exists:
            st.api_ready = self._api_ready()
            st.node_ready = st.api_ready and self._node_ready()
        return st

    def up(self) -> Path:
        """Start the cluster, or reuse it if it is already healthy; return the kubeconfig."""
        p = self.progress
        current = self.status()
        if current.healthy and self.lan_address != config.lan_address():
            raise ClusterError(
                f"The running local cluster listens on {self.lan_address or 'no LAN address'}, "
                f"not on what {config.LAN_ENV} asks for: run `make cluster-down`, then start it "
                "again."
            )
        running = self._recorded().get("kubernetes", "")
        if current.healthy and settings().kubernetes and running != config.KUBERNETES_VERSION:
            raise ClusterError(
                f"The running local cluster is Kubernetes {running}, not the "
                f"{config.KUBERNETES_VERSION} that {versions.ENV} asks for: run `make "
                "cluster-down`, then start it again."
            )
        if current.healthy:
            p.say(
                f"the local cluster (Kubernetes {running}) is already running (state in "
                f"{self.layout.state}): reusing it"
            )
            return self.kubeconfig
        host.require_linux_root()
        if current.exists or self.layout.state.exists():
            p.say("found state of a cluster that is not running (crash or reboot): cleaning it up")
            self.down(quiet=True)
        host.check_kernel()
        host.ensure_packages(p)
        ports = config.Ports.from_env()
        host.check_ports(ports)
        proxy_mode = host.kube_proxy_mode()
        host.check_no_other_kube_proxy(proxy_mode)
        binaries = build.ensure_all_built(self.layout, p)
        image_tars = toolsimage.ensure_pod_images(self.layout, p)
        bins = {name: path.parent for name, path in binaries.items()}
        try:
            self._start(ports, proxy_mode, bins, image_tars)
        except BaseException:
            p.say("start-up failed: stopping what was started (logs are kept until the next up)")
            self._stop_processes(quiet=True)
            raise
        return self.kubeconfig

    def down(self, quiet: bool = False) -> None:
        """Stop everything and remove every trace: processes, mounts, cgroups, bridge, rules."""
        p = Progress(quiet=True) if quiet else self.progress
        with p.stage("stopping the local cluster"):
            if self.status().api_ready:
                self._delete_all_pods()
            self._stop_processes(quiet=quiet)
            self._clean_host()
            left = host.mounts_under(self.layout.state)
            if left:
                raise ClusterError(
                    f"Could not unmount {left[0]} (and {len(left) - 1} more) left by the local "
                    "cluster: close any shell that is inside it and run `make cluster-down` again."
                )
            shutil.rmtree(self.layout.state, ignore_errors=True)

    # -- start-up ------------------------------------------------------------------------
    def _prepare(self, ports: config.Ports, proxy_mode: str) -> None:
        lay = self.layout
        for d in (
            lay.state,
            lay.logs,
            lay.run,
            lay.config,
            lay.cni_conf,
            lay.cni_ipam,
            lay.containerd_root,
            lay.containerd_state,
            lay.kubelet_root,
            lay.etcd_data,
        ):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(lay.state, 0o711)
        os.chmod(lay.etcd_data, 0o700)
        lan = config.lan_address()
        pki.generate(lay.pki, extra_sans=(lan,) if lan else ())
        if lan:
            self.progress.say(
                f"warning: {config.LAN_ENV}={lan}: the API server listens on every address of "
                f"this machine, {lan} included; anyone on that network can reach it (and "
                "needs a valid credential). `make cluster-down` ends it."
            )
        server = components.api_server_url(ports)
        pki.write_kubeconfig(lay.admin_kubeconfig, lay.pki, "admin", server)
        for stem in ("controller-manager", "scheduler", "kubelet", "kube-proxy", "coredns"):
            pki.write_kubeconfig(lay.config / f"{stem}.kubeconfig", lay.pki, stem, server)
        (lay.config / "scheduler.yaml").write_text(components.scheduler_config(lay))
        components.audit_policy_file(lay).write_text(auditpolicy.POLICY)
        components.authentication_config_file(lay).write_text(
            authnconfig.configuration(config.KUBERNETES_VERSION)
        )
        (lay.config / "kubelet.yaml").write_text(components.kubelet_config(lay, ports))
        (lay.config / "kube-proxy.yaml").write_text(
            components.kube_proxy_config(lay, ports, proxy_mode)
        )
        (lay.config / "Corefile").write_text(components.corefile(lay, ports))
        (lay.config / "containerd.toml").write_text(
            components.containerd_config(lay, host.runc_path(), host.cni_bin_dirs())
        )
        (lay.cni_conf / "10-sa-course.conflist").write_text(components.cni_conflist(lay))
        host.make_cgroup_root()
        lay.cluster_file.write_text(
            json.dumps(
                {
                    "backend": "local",
                    "kubernetes": config.KUBERNETES_VERSION,
                    "ports": ports.__dict__,
                    "kube_proxy_mode": proxy_mode,
                    "lan_address": lan,
                    # iptables-nft makes tables on first use; down() removes the new empty ones
                    "nft_tables_before": host.nft_table_names(),
                    # the kubelet changes these when it starts; down() puts them back
                    "host_sysctls": host.read_sysctls(host.KUBELET_SYSCTLS),
                    "started": time.time(),
                },
                indent=2,
            )
        )
        # The node's address must exist before kube-apiserver binds it (and CoreDNS).
        host.ensure_bridge(config.BRIDGE_NAME, config.POD_SUBNET, config.NODE_IP)
        host.check_node_ports(ports)

    def _start(
        self,
        ports: config.Ports,
        proxy_mode: str,
        bins: dict[str, Path],
        image_tars: dict[str, Path],
    ) -> None:
        p, lay, sup = self.progress, self.layout, self.sup
        t0 = time.monotonic()
        self._prepare(ports, proxy_mode)
        p.say(f"fresh keys and certificates in {lay.pki} (private keys 0600)")
        path_env = {**os.environ, "PATH": f"{bins['containerd']}:{os.environ.get('PATH', '')}"}

        sup.start("etcd", components.etcd_args(bins["etcd"], lay, ports))
        sup.start("containerd", components.containerd_args(bins["containerd"], lay), env=path_env)
        sup.wait_for(
            "etcd",
            lambda: _http_ok(f"http://127.0.0.1:{ports.etcd_client}/health"),
            "healthy",
            timeout=30,
        )
        sup.start("kube-apiserver", components.apiserver_args(bins["kube-apiserver"], lay, ports))
        p.say("etcd is up; kube-apiserver and containerd are starting")

        # Import the images while the API server starts.
        importer = threading.Thread(target=self._import_images, args=(bins, image_tars))
        importer_error: list[BaseException] = []
        importer.run = _capture(importer.run, importer_error)  # type: ignore[method-assign]
        importer.start()

        sup.wait_for("kube-apiserver", self._api_ready, "/readyz ok", timeout=60)
        self.progress.mark("api_ready")
        p.say(
            f"kube-apiserver is ready on {components.api_server_url(ports)} "
            f"({time.monotonic() - t0:.1f}s)"
        )
        sup.start(
            "kube-controller-manager",
            components.controller_manager_args(bins["kube-controller-manager"], lay, ports),
        )
        sup.start("kube-scheduler", components.scheduler_args(bins["kube-scheduler"], lay, ports))
        self._create(components.apiserver_kubelet_binding())

        importer.join()
        if importer_error:
            raise importer_error[0]
        sup.start("kubelet", components.kubelet_args(bins["kubelet"], lay), env=path_env)
        p.say("images imported; kubelet started")
        self._start_service_network(bins)

        sup.wait_for(
            "kube-controller-manager",
            self._default_sa_ready,
            "the default ServiceAccount and kube-root-ca.crt",
            timeout=60,
        )
        self.progress.mark("default_sa")
        p.say(f"the default ServiceAccount exists ({time.monotonic() - t0:.1f}s)")
        sup.wait_for("kubelet", self._node_ready, f"node {config.NODE_NAME} Ready", timeout=90)
        self.progress.mark("node_ready")
        p.say(f"node {config.NODE_NAME} is Ready ({time.monotonic() - t0:.1f}s)")
        self._wait_for_service_network()
        self.progress.mark("service_network")
        p.say(
            f"kube-proxy ({proxy_mode}) and CoreDNS are serving the Service network: the "
            f"cluster is up in {time.monotonic() - t0:.1f}s (kubeconfig: {self.kubeconfig})"
        )

    def _start_service_network(self, bins: dict[str, Path]) -> None:
        """The kube-dns Service and CoreDNS's access, then CoreDNS and kube-proxy."""
        for obj in [*components.coredns_rbac(), components.dns_service(self.ports)]:
            self._create(obj)
        self._create(components.dns_endpoint_slice(self.ports))
        lay = self.layout
        self.sup.start("coredns", components.coredns_args(bins["coredns"], lay))
        # kube-proxy looks for its Node first and, if it is not there yet, again a second
        # later: starting it once the kubelet has registered the Node saves that second.
        self.sup.wait_for("kubelet", self._node_registered, "the Node registered", timeout=60)
        self.sup.start("kube-proxy", components.kube_proxy_args(bins["kube-proxy"], lay))

    def _wait_for_service_network(self) -> None:
        ports = self.ports
        self.sup.wait_for(
            "kube-proxy", self._kube_proxy_synced, "its first sync of the rules", timeout=30
        )
        self.sup.wait_for(
            "coredns",
            lambda: _http_ok(f"http://127.0.0.1:{ports.coredns_ready}/ready"),
            "/ready (the kubernetes plugin synced)",
            timeout=30,
        )

    def load_images(self, image_tars: dict[str, Path]) -> None:
        """Import more images (tag -> docker-archive) into the running cluster's containerd."""
        binaries = build.ensure_all_built(self.layout, self.progress)
        bins = {name: path.parent for name, path in binaries.items()}
        with self.progress.stage(f"importing {', '.join(image_tars)} into the local cluster"):
            self._import_images(bins, image_tars)

    def _import_images(self, bins: dict[str, Path], image_tars: dict[str, Path]) -> None:
        sock = self.layout.containerd_socket
        ctr = bins["ctr"] / "ctr"
        self.sup.wait_for(
            "containerd",
            lambda: sock.exists() and _run([ctr, "--address", sock, "version"]).returncode == 0,
            "its socket answering",
            timeout=30,
        )
        for tag, tar in image_tars.items():
            unpack = ["--no-unpack"] if tar.stat().st_size > LARGE_IMAGE_BYTES else []
            proc = _run(
                [
                    ctr,
                    "--address",
                    sock,
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    "--local",
                    *unpack,
                    "--platform",
                    "linux/amd64",
                    tar,
                ]
            )
            if proc.returncode != 0:
                raise ComponentFailed(
                    "containerd",
                    f"could not import the image {tag} ({proc.stderr.strip()})",
                    self.sup.log("containerd"),
                )

    # -- talking to the API during start-up (plain HTTPS: no client import needed) -------
    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
        ctx.load_cert_chain(self.layout.pki / "admin.crt", self.layout.pki / "admin.key")
        return ctx

    def _api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        url = components.api_server_url(self.ports) + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, context=self._ssl(), timeout=5) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.startswith(b"{") else {"text": raw.decode()}

    def _api_ready(self) -> bool:
        try:
            return self._api("/readyz").get("text") == "ok"
        except Exception:
            return False

    def _default_sa_ready(self) -> bool:
        self._api("/api/v1/namespaces/default/serviceaccounts/default")
        self._api("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
        return True

    def _node_registered(self) -> bool:
        return bool(self._api(f"/api/v1/nodes/{config.NODE_NAME}").get("metadata"))

    def _node_ready(self) -> bool:
        try:
            node = self._api(f"/api/v1/nodes/{config.NODE_NAME}")
        except Exception:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _kube_proxy_synced(self) -> bool:
        """True once kube-proxy has written its IPv4 rules (its /healthz lists the family)."""
        url = f"http://127.0.0.1:{self.ports.kube_proxy_healthz}/healthz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return "IPv4" in json.loads(resp.read()).get("status", {})

    def _create(self, obj: dict) -> None:
        """Create ``obj`` (already there is fine), retrying while the API server settles."""
        deadline = time.monotonic() + 30
        while True:  # the RBAC bootstrap roles and kube-system appear a moment after /readyz
            try:
                self._api(components.collection_path(obj), "POST", obj)
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 409:
                    return
                if time.monotonic() > deadline:
                    raise ComponentFailed(
                        "kube-apiserver",
                        f"refused to create the {obj['kind']} {obj['metadata']['name']} ({exc})",
                        self.sup.log("kube-apiserver"),
                    ) from exc
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    # -- teardown ------------------------------------------------------------------------
    def _delete_all_pods(self, timeout: float = 30) -> None:
        """Delete every pod, so the kubelet tears down sandboxes, volumes and networks."""
        try:
            pods = self._api("/api/v1/pods").get("items", [])
            for pod in pods:
                meta = pod["metadata"]
                self._api(
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                    "?gracePeriodSeconds=0",
                    "DELETE",
                )
            deadline = time.monotonic() + timeout
            while pods and time.monotonic() < deadline and self.sup.alive("kubelet"):
                pods = self._api("/api/v1/pods").get("items", [])
                running = [p for p in pods if p.get("spec", {}).get("nodeName")]
                if not running:
                    break
                time.sleep(0.2)
        except Exception:
            pass  # the host cleanup below removes whatever is left

    def _stop_processes(self, quiet: bool = False) -> None:
        for name in reversed(COMPONENTS):
            self.sup.stop(name, timeout=10)
        # Containers and shims are not our children: find them by cgroup and command line.
        host.kill_all(host.cgroup_pids())
        host.kill_all(host.pids_mentioning(self.layout.state))
        time.sleep(0.1)

    def _clean_host(self) -> None:
        host.unmount_all(self.layout.state)
        host.remove_dead_sockets(SHIM_SOCKET_DIRS[0])
        host.remove_empty_dirs(SHIM_SOCKET_DIRS)
        self._remove_kube_proxy_rules()
        host.restore_sysctls(self._recorded().get("host_sysctls", {}))
        host.delete_link(config.BRIDGE_NAME)
        host.remove_pod_log_links(self.layout.state)
        for _ in range(20):
            if not host.remove_cgroup_root():
                break
            host.kill_all(host.cgroup_pids())
            time.sleep(0.1)

    def _remove_kube_proxy_rules(self) -> None:
        """Delete kube-proxy's nftables tables; in iptables mode, its chains."""
        mode = self.kube_proxy_mode
        if mode == "iptables":
            binary = self.layout.bin / build.kubernetes_build().key
            if (binary / "kube-proxy").is_file():
                _run(components.kube_proxy_cleanup_args(binary))
            # kube-proxy's clean-up keeps this one, as the kubelet's (ours makes none).
            host.delete_iptables_chain(*host.KUBE_FIREWALL)
            host.delete_new_empty_nft_tables(self._recorded().get("nft_tables_before", []))
        if mode:
            host.delete_nft_tables(config.KUBE_PROXY_TABLE)


def _capture(run, errors: list[BaseException]):
    def wrapped() -> None:
        try:
            run()
        except BaseException as exc:
            errors.append(exc)

    return wrapped


def _run(argv: list) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, timeout=120
    )


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
