"""The local cluster's life cycle: reuse, recovery from a crash, and a teardown that leaves nothing.

These tests stop and restart the cluster, so they run last (marker ``teardown``) and
leave a healthy cluster behind for whoever runs next.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import yaml

from helpers.cluster import authnconfig, config, host, partner
from helpers.cluster.local import COMPONENTS, SHIM_SOCKET_DIRS, LocalCluster
from helpers.course import Course, connect
from helpers.pods import busybox_pod, exec_in_pod, run_pod

pytestmark = [pytest.mark.cluster, pytest.mark.teardown, pytest.mark.local_only]


@pytest.fixture
def local(course: Course) -> LocalCluster:
    if course.backend != "local":
        pytest.skip("only the local backend is started and stopped by the course")
    return LocalCluster()


#: Host settings that kube-proxy (conntrack, route_localnet), the CNI bridge plugin
#: (ip_forward) or br_netfilter users might change: the cluster must leave them alone.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv6/conf/all/forwarding",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "net/netfilter/nf_conntrack_tcp_be_liberal",
    "net/netfilter/nf_conntrack_udp_timeout",
    "net/netfilter/nf_conntrack_udp_timeout_stream",
)

NOTHING_LEFT = {
    "iptables chains": [],
    "nftables tables": [],
    "addresses in the Pod network": {},
    "dead shim sockets": [],
    "processes": [],
    "container processes": [],
    "mounts": [],
    "bridge": False,
    "cgroups": [],
    "state dir": False,
}


def _sysctls(names: tuple[str, ...] = SYSCTLS) -> dict[str, str]:
    """The current values of ``names`` (those this kernel has)."""
    return host.read_sysctls(names)


def _leftovers(cluster: LocalCluster) -> dict[str, object]:
    state = cluster.layout.state
    return {
        "iptables chains": host.kube_iptables_chains(),
        "nftables tables": host.nft_tables(config.KUBE_PROXY_TABLE),
        "addresses in the Pod network": host.addresses_in(config.POD_SUBNET),
        "dead shim sockets": host.dead_sockets(SHIM_SOCKET_DIRS[0]),
        "processes": host.pids_mentioning(state),
        "container processes": sorted(host.cgroup_pids()),
        "mounts": host.mounts_under(state),
        "bridge": host.link_exists(config.BRIDGE_NAME),
        "cgroups": [p for p in host.cgroup_roots() if p.exists()],
        "state dir": state.exists(),
    }


def test_up_twice_reuses_the_running_cluster(local: LocalCluster) -> None:
    before = {c.name: c.pid for c in local.status().components}
    started = time.monotonic()
    local.up()
    assert time.monotonic() - started < 5
    assert {c.name: c.pid for c in local.status().components} == before


def test_a_crashed_cluster_is_detected_and_replaced(local: LocalCluster) -> None:
    for name in COMPONENTS:  # what a power cut or `kill -9` leaves: state, mounts, no processes
        pid = local.sup.pid(name)
        if pid:
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert local.status().stale
    local.up()
    assert local.status().healthy
    course = connect(start=False)
    ns = course.fresh_namespace("t-after-crash")
    pod = run_pod(course.core, ns, busybox_pod("alive"))
    assert pod.status.phase == "Running"
    course.delete_namespace(ns)


def _reaches_the_api_by_service_name(course: Course, ns: str, pod: str) -> bool:
    """A TCP connection from the Pod to kubernetes.default.svc:443 (DNS, Service IP, DNAT)."""
    script = "nc -w 3 kubernetes.default.svc 443 </dev/null"
    return exec_in_pod(course.core, ns, pod, ["sh", "-c", script], check=False).returncode == 0


def _expected_mode() -> str:
    return "nftables" if host.nftables_usable() else "iptables"


def test_down_leaves_nothing_behind(local: LocalCluster) -> None:
    course = connect(start=False)
    ns = course.fresh_namespace("t-teardown")
    run_pod(course.core, ns, busybox_pod("running-at-teardown"))
    # notebook 17's partner API server, as a notebook stopped halfway would leave it
    partner_server = partner.PartnerServer(local.layout)
    empty = {
        "apiVersion": authnconfig.api_version(course.version()),
        "kind": "AuthenticationConfiguration",
    }
    partner_server.up(yaml.safe_dump(empty))
    assert partner_server.running()
    mode = _expected_mode()
    assert local.kube_proxy_mode == mode
    assert host.nft_tables(config.KUBE_PROXY_TABLE) or mode == "iptables"
    local.down()
    assert _leftovers(local) == NOTHING_LEFT  # its processes name the state directory too
    assert not host.port_in_use(partner.ETCD_CLIENT_PORT), "the partner's etcd is gone"
    before = _sysctls()
    # ... and the next session finds a working cluster again, which changed no sysctl.
    local.up()
    assert local.status().healthy
    assert _sysctls() == before
    # The kubelet does change a few for itself; down() puts them back (the next test).
    assert json.loads(local.layout.cluster_file.read_text())["host_sysctls"].keys() == (
        _sysctls(host.KUBELET_SYSCTLS).keys()
    )


def test_the_iptables_fallback_also_leaves_nothing_behind(
    local: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where nftables cannot work, kube-proxy runs in iptables mode; down removes its chains."""
    if not host.iptables_usable():
        pytest.skip("this machine has no working iptables command")
    local.down()
    everything = SYSCTLS + host.KUBELET_SYSCTLS
    before, tables_before = _sysctls(everything), host.nft_table_names()
    monkeypatch.setenv("COURSE_KUBE_PROXY_MODE", "iptables")
    try:
        local.up()
        assert local.kube_proxy_mode == "iptables"
        assert host.kube_iptables_chains() and not host.nft_tables(config.KUBE_PROXY_TABLE)
        course = connect(start=False)
        ns = course.fresh_namespace("t-iptables")
        run_pod(course.core, ns, busybox_pod("client"))
        assert _reaches_the_api_by_service_name(course, ns, "client")
        assert _sysctls() == {k: v for k, v in before.items() if k in SYSCTLS}
    finally:
        local.down()
        left, tables_after = _leftovers(local), host.nft_table_names()
        sysctls_after = _sysctls(everything)
        monkeypatch.delenv("COURSE_KUBE_PROXY_MODE")
        local.up()  # leave the usual cluster for whoever runs next
    assert left == NOTHING_LEFT
    assert tables_after == tables_before, "iptables-nft's tables it made for kube-proxy are gone"
    assert sysctls_after == before, "the kubelet's sysctls are back as they were"
    assert local.status().healthy and local.kube_proxy_mode == _expected_mode()


def _an_address_of_this_machine() -> str:
    """A global IPv4 address of this machine besides the cluster's bridge (its "LAN" one)."""
    import subprocess

    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        address = fields[3].split("/")[0] if len(fields) > 3 else ""
        if fields[1] != config.BRIDGE_NAME and not fields[1].startswith(("docker", "br-", "veth")):
            return address
    return ""


def _anonymous_status(server: str, ca: str, method: str, path: str) -> int:
    """The HTTP status of a request with no credential at all."""
    import ssl
    import urllib.error
    import urllib.request

    body = b'{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}'
    req = urllib.request.Request(
        server + path, data=body if method == "PATCH" else None, method=method
    )
    req.add_header("Content-Type", "application/merge-patch+json")
    try:
        ctx = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_lan_address_serves_a_classroom(
    local: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COURSE_LAN_ADDRESS: the API answers there too, that address is in its certificate,
    and a workshop's kubeconfigs point at it (checked with TLS verification on)."""
    from kubernetes import client as k8s
    from kubernetes import config as kubeconfig

    from helpers.workshop import Workshop, policy

    lan = _an_address_of_this_machine()
    if not lan:
        pytest.skip("this machine has no address besides loopback and the cluster's bridge")
    local.down()
    monkeypatch.setenv(config.LAN_ENV, lan)
    try:
        local.up()
        assert local.lan_url() == f"https://{lan}:{local.ports.apiserver}"
        ws = Workshop(connect(start=False), "lan")
        learner = ws.up(1, 600)[0]
        api = kubeconfig.new_client_from_config(config_file=str(learner.kubeconfig))
        assert api.configuration.host == local.lan_url()
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(k8s.V1SelfSubjectReview())
        assert review.status.user_info.username == policy.learner_username(learner.prefix)
        # anyone on the venue's network reaches the port, but with no credential only the
        # health endpoints answer: the issue-17 reproduction gets 401 at its first step
        ca = api.configuration.ssl_ca_cert
        target = f"/api/v1/namespaces/{learner.prefix}-become-ns"
        assert _anonymous_status(local.lan_url(), ca, "PATCH", target) == 401
        assert _anonymous_status(local.lan_url(), ca, "GET", "/api") == 401
        assert _anonymous_status(local.lan_url(), ca, "GET", "/livez") == 200
        ws.down()
    finally:
        local.down()
        monkeypatch.delenv(config.LAN_ENV)
        local.up()  # the usual cluster, on the bridge only, for whoever runs next
    assert local.status().healthy and not local.lan_address
