"""Pods reach the API server as on every cluster: by DNS name, through the Service IP, over TLS.

From inside a busybox Pod, ``kubernetes.default.svc`` resolves to the ``kubernetes``
Service's ClusterIP, the environment names that Service, and an HTTPS request to it
verifies with the Pod's own ``ca.crt`` and authenticates with the Pod's own token.

busybox cannot verify a certificate (its wget says "TLS certificate validation not
implemented", and the API server answers its handshake with alert 40), so
the TLS client here is Python's ``ssl``, relayed byte for byte through ``nc`` running in
the Pod: the name lookup, the route and the TCP connection are the Pod's, and the only
trust anchor and credential used are the files the kubelet mounted into it.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from helpers.cluster import config, host, partner, pki
from helpers.cluster.local import LocalCluster
from helpers.course import Course
from helpers.pods import TOKEN_DIR, ExecResult, busybox_pod, exec_in_pod, run_pod
from helpers.reviews import sa_username

pytestmark = pytest.mark.cluster

API_NAME = "kubernetes.default.svc"


@dataclass(frozen=True)
class ClientPod:
    """A running busybox Pod, and what the kubelet gave it: environment, CA, token."""

    namespace: str
    name: str
    env: dict[str, str]
    ca_pem: str
    token: str


def _sh(course: Course, pod: ClientPod, script: str) -> ExecResult:
    return exec_in_pod(course.core, pod.namespace, pod.name, ["sh", "-c", script], check=False)


@pytest.fixture(scope="module")
def client_pod(course: Course) -> Iterator[ClientPod]:
    """One busybox Pod with the namespace's default ServiceAccount token mounted."""
    ns = course.fresh_namespace(f"t-svcnet-{uuid.uuid4().hex[:5]}")
    run_pod(course.core, ns, busybox_pod("client"))
    env_text = exec_in_pod(course.core, ns, "client", ["env"]).stdout
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
    ca = exec_in_pod(course.core, ns, "client", ["cat", f"{TOKEN_DIR}/ca.crt"]).stdout
    token = exec_in_pod(course.core, ns, "client", ["cat", f"{TOKEN_DIR}/token"]).stdout
    yield ClientPod(ns, "client", env, ca, token.strip())
    course.delete_namespace(ns)


def _kubernetes_service_ip(course: Course, pod: ClientPod) -> str:
    """The ``kubernetes`` Service's ClusterIP: from the API where we may read it."""
    try:
        return course.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    except ApiException as exc:
        if exc.status != 403:  # a restricted course identity may not read Services
            raise
    return pod.env["KUBERNETES_SERVICE_HOST"]  # the kubelet copied it from that Service


# -- a TCP connection from inside the Pod, and TLS over it ------------------------------


class PodConnection:
    """A TCP connection that ``nc`` opens from inside a Pod; its bytes travel over exec."""

    def __init__(self, course: Course, pod: ClientPod, host: str, port: int) -> None:
        self.ws = stream(
            course.core.connect_get_namespaced_pod_exec,
            pod.name,
            pod.namespace,
            command=["nc", "-w", "5", host, str(port)],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )

    def exchange(self, data: bytes, timeout: float = 0.5) -> bytes:
        """Send ``data`` (may be empty), then return what arrived within ``timeout``."""
        if data:
            self.ws.write_stdin(data)
        self.ws.update(timeout=timeout)
        return self.ws.read_stdout() if self.ws.peek_stdout() else b""

    @property
    def open(self) -> bool:
        return self.ws.is_open()

    def close(self) -> None:
        self.ws.close()


class PodTls:
    """Python's TLS client over a :class:`PodConnection`, trusting only ``ca_pem``."""

    def __init__(self, conn: PodConnection, ca_pem: str, server_name: str) -> None:
        context = ssl.create_default_context(cadata=ca_pem)  # verifies chain and host name
        self.conn = conn
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)

    def _pump(self) -> None:
        self.incoming.write(self.conn.exchange(self.outgoing.read()))

    def handshake(self, deadline: float) -> None:
        """Complete the handshake; ssl.SSLCertVerificationError if the server is not trusted."""
        while True:
            try:
                return self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self._pump()
            assert self.conn.open and time.monotonic() < deadline, "the TLS handshake stalled"

    def request(self, data: bytes, deadline: float) -> bytes:
        """Send ``data`` and read until the server closes the connection."""
        self.tls.write(data)
        response = b""
        while self.conn.open and time.monotonic() < deadline:
            self._pump()
            try:
                while chunk := self.tls.read():
                    response += chunk
                return response
            except ssl.SSLWantReadError:
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return response
        return response


@dataclass
class HttpsResult:
    tls_version: str
    peer_cert: dict
    status: int
    body: bytes


def https_from_pod(
    course: Course, pod: ClientPod, request: bytes, ca_pem: str, timeout: float = 20
) -> HttpsResult:
    """Send an HTTP ``request`` to https://kubernetes.default.svc from inside the Pod."""
    deadline = time.monotonic() + timeout
    conn = PodConnection(course, pod, API_NAME, 443)
    try:
        client_tls = PodTls(conn, ca_pem, API_NAME)
        client_tls.handshake(deadline)
        response = client_tls.request(request, deadline)
    finally:
        conn.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    tls = client_tls.tls
    return HttpsResult(tls.version() or "", tls.getpeercert() or {}, status, body)


def _http_request(method: str, path: str, token: str, body: dict | None = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {API_NAME}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
        "Connection: close",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


# -- the tests --------------------------------------------------------------------------


def test_the_pod_environment_names_the_kubernetes_service(
    course: Course, client_pod: ClientPod
) -> None:
    assert client_pod.env["KUBERNETES_SERVICE_HOST"] == _kubernetes_service_ip(course, client_pod)
    assert client_pod.env["KUBERNETES_SERVICE_PORT"] == "443"
    assert (
        client_pod.env["KUBERNETES_PORT"]
        == f"tcp://{client_pod.env['KUBERNETES_SERVICE_HOST']}:443"
    )


def test_kubernetes_default_svc_resolves_to_the_service_ip(
    course: Course, client_pod: ClientPod
) -> None:
    service_ip = _kubernetes_service_ip(course, client_pod)
    resolv = _sh(course, client_pod, "cat /etc/resolv.conf").stdout
    nameserver = re.search(r"^nameserver\s+(\S+)", resolv, re.MULTILINE)
    assert nameserver, resolv
    # The full name, asked of the cluster DNS (the kube-dns Service) directly:
    fqdn = f"{API_NAME}.cluster.local"
    answer = _sh(course, client_pod, f"nslookup {fqdn} {nameserver.group(1)}").stdout
    assert re.search(
        rf"Name:\s+{re.escape(fqdn)}\s+Address:\s+{re.escape(service_ip)}\b", answer
    ), answer
    # The short name, through the Pod's own resolver (search list, ndots) as applications
    # use it: busybox ping prints the address it resolved, whether or not a reply comes.
    ping = _sh(course, client_pod, f"ping -c 1 -W 1 {API_NAME}")
    assert f"PING {API_NAME} ({service_ip})" in str(ping), str(ping)


def test_tls_from_the_pod_verifies_with_the_pods_own_ca(
    course: Course, client_pod: ClientPod
) -> None:
    result = https_from_pod(
        course, client_pod, _http_request("GET", "/version", client_pod.token), client_pod.ca_pem
    )
    assert result.status == 200, result
    assert json.loads(result.body)["gitVersion"] == course.version()
    sans = {value for _, value in result.peer_cert["subjectAltName"]}
    assert {
        API_NAME,
        f"{API_NAME}.cluster.local",
        _kubernetes_service_ip(course, client_pod),
    } <= sans
    print(f"{result.tls_version}, server certificate names {sorted(sans)}")


def test_a_ca_the_pod_was_not_given_is_refused(course: Course, client_pod: ClientPod) -> None:
    """The control: the same connection with a stranger's CA fails verification."""
    stranger = pki.new_ca("not-the-cluster-ca").cert_pem.decode()
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        https_from_pod(
            course, client_pod, _http_request("GET", "/version", client_pod.token), stranger
        )


def test_the_pod_token_authenticates_through_the_service(
    course: Course, client_pod: ClientPod
) -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    request = _http_request(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", client_pod.token, review
    )
    result = https_from_pod(course, client_pod, request, client_pod.ca_pem)
    assert result.status == 201, result
    user = json.loads(result.body)["status"]["userInfo"]
    assert user["username"] == sa_username(client_pod.namespace, "default")
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == [client_pod.name]


# -- how the local cluster does it ------------------------------------------------------


@pytest.fixture
def local(course: Course) -> LocalCluster:
    if course.backend != "local":
        pytest.skip("the local cluster's own processes and rules are on this machine only")
    return LocalCluster()


@pytest.mark.local_only
def test_the_local_cluster_listens_on_loopback_and_its_bridge_only(local: LocalCluster) -> None:
    pids = {c.pid for c in local.status().components if c.pid}
    pids |= set(host.pids_mentioning(local.layout.state))
    sockets = host.listening_sockets(pids)
    assert {addr for _, addr, _ in sockets} == {"127.0.0.1", config.NODE_IP}, sockets
    ports = local.ports
    on_bridge = {(proto, port) for proto, addr, port in sockets if addr == config.NODE_IP}
    # notebook 17's partner API server, while it runs, listens there too (and only there)
    on_bridge.discard(("tcp", partner.API_PORT))
    assert on_bridge == {("tcp", ports.apiserver), ("tcp", ports.dns), ("udp", ports.dns)}


@pytest.mark.local_only
def test_service_ips_lead_to_the_node_itself(
    course: Course, local: LocalCluster, client_pod: ClientPod
) -> None:
    """DNAT to the node's own address: delivered locally, never forwarded (no FORWARD rule,
    Docker's included, is on the path, and IP forwarding may stay off)."""
    routes = _sh(course, client_pod, "ip route").stdout
    assert "default" not in routes, routes
    assert f"{config.SERVICE_SUBNET} via {config.NODE_IP}" in routes, routes
    discovery = client.DiscoveryV1Api(course.api)
    for ns, name in (("default", "kubernetes"), ("kube-system", "kube-dns")):
        slices = discovery.list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={name}"
        ).items
        assert {a for s in slices for e in s.endpoints for a in e.addresses} == {config.NODE_IP}
    if local.kube_proxy_mode == "nftables":
        table = config.KUBE_PROXY_TABLE
        assert host.nft_tables() == [f"ip {table}", f"ip6 {table}"]
    else:
        assert host.kube_iptables_chains()
