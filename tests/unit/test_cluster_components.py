"""Flags and configuration files of the local cluster: loopback and its bridge, the SA flags."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from pathlib import Path

import yaml

from helpers.cluster import components, config, pki

LAYOUT = config.Layout(cache=Path("/cache"), state=Path("/state"))
PORTS = config.Ports()
BIN = Path("/bin-dir")


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in argv[1:] if "=" in a)


def test_api_server_listens_on_the_node_address_and_sets_the_service_account_flags() -> None:
    flags = _flags(components.apiserver_args(BIN, LAYOUT, PORTS))
    # Pods reach it through the kubernetes Service, whose endpoint may not be loopback.
    assert flags["bind-address"] == flags["advertise-address"] == config.NODE_IP
    assert flags["service-account-jwks-uri"] == f"https://{config.NODE_IP}:6443/openid/v1/jwks"
    assert flags["service-account-issuer"] == config.SERVICE_ACCOUNT_ISSUER
    assert flags["service-account-signing-key-file"] == "/state/pki/sa.key"
    keys = [
        a.split("=", 1)[1]
        for a in components.apiserver_args(BIN, LAYOUT, PORTS)
        if a.startswith("--service-account-key-file=")
    ]
    assert keys == ["/state/pki/sa.pub", "/state/pki/sa-previous.pub"], "current, and previous"
    assert flags["authorization-mode"] == "Node,RBAC"
    assert flags["etcd-servers"].startswith("http://127.0.0.1:")
    assert flags["kubelet-certificate-authority"] == "/state/pki/ca.crt"


def test_the_audit_log_stays_in_the_state_directory() -> None:
    flags = _flags(components.apiserver_args(BIN, LAYOUT, PORTS))
    assert flags["audit-log-path"] == "/state/logs/audit.log", "down() removes it"
    assert flags["audit-policy-file"].startswith("/state/")
    assert flags["audit-log-maxsize"] == "50" and flags["audit-log-maxbackup"] == "1"


def test_every_component_binds_loopback() -> None:
    for argv in (
        components.controller_manager_args(BIN, LAYOUT, PORTS),
        components.scheduler_args(BIN, LAYOUT, PORTS),
    ):
        assert _flags(argv)["bind-address"] == "127.0.0.1"
    etcd = _flags(components.etcd_args(BIN, LAYOUT, PORTS))
    assert all(
        etcd[k].startswith("http://127.0.0.1:") for k in ("listen-client-urls", "listen-peer-urls")
    )
    kubelet = yaml.safe_load(components.kubelet_config(LAYOUT, PORTS))
    assert kubelet["address"] == kubelet["healthzBindAddress"] == "127.0.0.1"
    assert kubelet["readOnlyPort"] == 0
    assert kubelet["authentication"]["anonymous"]["enabled"] is False


def test_controller_manager_signs_legacy_tokens_with_the_same_key() -> None:
    flags = _flags(components.controller_manager_args(BIN, LAYOUT, PORTS))
    assert flags["service-account-private-key-file"] == "/state/pki/sa.key"
    assert flags["root-ca-file"] == "/state/pki/ca.crt"


def test_kubelet_accepts_cgroup_v1_and_keeps_its_images() -> None:
    kubelet = yaml.safe_load(components.kubelet_config(LAYOUT, PORTS))
    assert kubelet["failCgroupV1"] is False
    assert kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert kubelet["cgroupRoot"] == config.CGROUP_ROOT


def test_containerd_config_is_valid_toml_with_our_paths() -> None:
    doc = tomllib.loads(components.containerd_config(LAYOUT, "/usr/sbin/runc", ["/usr/lib/cni"]))
    assert doc["version"] == 3
    assert doc["grpc"]["address"] == str(LAYOUT.containerd_socket)
    runtime = doc["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["netns_mounts_under_state_dir"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False
    assert runc["Root"].startswith("/state/")
    images = doc["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == config.PAUSE_IMAGE


def test_cni_network_uses_our_bridge_without_iptables() -> None:
    doc = json.loads(components.cni_conflist(LAYOUT))
    bridge = doc["plugins"][0]
    assert bridge["bridge"] == config.BRIDGE_NAME
    # isGateway would switch on the host's IP forwarding; ipMasq would add iptables rules.
    assert bridge["ipMasq"] is False and bridge["isGateway"] is False
    assert bridge["ipam"]["dataDir"].startswith("/state/")


def test_pods_route_only_service_ips_to_the_node_address() -> None:
    ipam = json.loads(components.cni_conflist(LAYOUT))["plugins"][0]["ipam"]
    assert ipam["ranges"] == [[{"subnet": config.POD_SUBNET, "gateway": config.NODE_IP}]]
    assert ipam["routes"] == [{"dst": config.SERVICE_SUBNET, "gw": config.NODE_IP}]


def test_the_addresses_fit_together() -> None:
    pods, services = (ipaddress.ip_network(n) for n in (config.POD_SUBNET, config.SERVICE_SUBNET))
    assert ipaddress.ip_address(config.NODE_IP) == next(pods.hosts())  # never given to a Pod
    assert ipaddress.ip_address(config.KUBERNETES_SERVICE_IP) == next(services.hosts())
    assert ipaddress.ip_address(config.CLUSTER_DNS) in services
    assert not pods.overlaps(services)


def test_kubelet_reports_the_node_address_and_the_cluster_dns() -> None:
    assert _flags(components.kubelet_args(BIN, LAYOUT))["node-ip"] == config.NODE_IP
    kubelet = yaml.safe_load(components.kubelet_config(LAYOUT, PORTS))
    assert kubelet["clusterDNS"] == [config.CLUSTER_DNS]
    assert kubelet["clusterDomain"] == "cluster.local"
    assert kubelet["makeIPTablesUtilChains"] is False


def test_kube_proxy_config_writes_no_sysctl_and_listens_on_loopback() -> None:
    doc = yaml.safe_load(components.kube_proxy_config(LAYOUT, PORTS))
    assert doc["kind"] == "KubeProxyConfiguration" and doc["mode"] == "nftables"
    assert doc["clientConnection"]["kubeconfig"] == "/state/config/kube-proxy.kubeconfig"
    assert doc["clusterCIDR"] == config.POD_SUBNET and doc["detectLocalMode"] == "ClusterCIDR"
    assert doc["healthzBindAddress"] == "127.0.0.1:10256"
    assert doc["metricsBindAddress"] == "127.0.0.1:10249"
    assert doc["nodePortAddresses"] == [f"{config.NODE_IP}/32"]
    assert doc["hostnameOverride"] == config.NODE_NAME
    # zero means "leave the host's value": no conntrack sysctl is written
    assert doc["conntrack"] == {
        "maxPerCore": 0,
        "min": 0,
        "tcpEstablishedTimeout": "0s",
        "tcpCloseWaitTimeout": "0s",
    }
    assert doc["oomScoreAdj"] == 0
    assert doc["iptables"]["localhostNodePorts"] is False  # no route_localnet sysctl


def test_kube_proxy_falls_back_to_iptables_mode_on_request() -> None:
    assert yaml.safe_load(components.kube_proxy_config(LAYOUT, PORTS, "iptables"))["mode"] == (
        "iptables"
    )
    assert components.kube_proxy_args(BIN, LAYOUT) == [
        "/bin-dir/kube-proxy",
        "--config=/state/config/kube-proxy.yaml",
    ]
    assert components.kube_proxy_cleanup_args(BIN) == ["/bin-dir/kube-proxy", "--cleanup"]


def test_corefile_answers_on_the_node_address_and_forwards_the_rest() -> None:
    text = components.corefile(LAYOUT, PORTS)
    assert text.startswith(".:53 {")
    assert f"bind {config.NODE_IP}" in text
    assert "ready 127.0.0.1:8181" in text  # the only other listener, on loopback
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa {" in text
    assert "kubeconfig /state/config/coredns.kubeconfig" in text
    assert "forward . /etc/resolv.conf" in text
    assert not re.search(r"^\s*(health|prometheus|pprof)\b", text, re.MULTILINE)
    assert components.coredns_args(BIN, LAYOUT) == [
        "/bin-dir/coredns",
        "-conf",
        "/state/config/Corefile",
    ]


def test_kube_dns_service_and_its_slice_point_at_coredns_on_the_node() -> None:
    service = components.dns_service(PORTS)
    assert service["metadata"] == {
        "name": "kube-dns",
        "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns", "app.kubernetes.io/part-of": "sa-course"},
    }
    assert service["spec"]["clusterIP"] == config.CLUSTER_DNS
    assert "selector" not in service["spec"]
    slice_ = components.dns_endpoint_slice(PORTS)
    labels = slice_["metadata"]["labels"]
    assert labels["kubernetes.io/service-name"] == "kube-dns"
    assert labels["endpointslice.kubernetes.io/managed-by"] == "sa-course"
    assert slice_["endpoints"][0]["addresses"] == [config.NODE_IP]
    service_ports = {(p["name"], p["protocol"], p["targetPort"]) for p in service["spec"]["ports"]}
    slice_ports = {(p["name"], p["protocol"], p["port"]) for p in slice_["ports"]}
    assert service_ports == slice_ports == {("dns", "UDP", 53), ("dns-tcp", "TCP", 53)}


def test_coredns_may_only_list_and_watch_what_it_serves() -> None:
    role, binding = components.coredns_rbac()
    assert {(tuple(r["apiGroups"]), tuple(r["resources"])) for r in role["rules"]} == {
        (("",), ("services", "namespaces")),
        (("discovery.k8s.io",), ("endpointslices",)),
    }
    assert all(r["verbs"] == ["list", "watch"] for r in role["rules"])
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}
    ]
    assert pki.CLIENTS["coredns"] == ("system:coredns", ())


def test_objects_are_posted_to_their_collections() -> None:
    paths = [
        components.collection_path(obj)
        for obj in (
            components.apiserver_kubelet_binding(),
            *components.coredns_rbac(),
            components.dns_service(PORTS),
            components.dns_endpoint_slice(PORTS),
        )
    ]
    assert paths == [
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "/api/v1/namespaces/kube-system/services",
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
    ]


def test_a_lan_address_makes_the_api_server_listen_everywhere(monkeypatch) -> None:
    monkeypatch.setattr(config, "lan_address", lambda: "192.0.2.2")
    flags = _flags(components.apiserver_args(BIN, LAYOUT, PORTS))
    assert flags["bind-address"] == "0.0.0.0"
    assert flags["advertise-address"] == config.NODE_IP, "Pods still reach it on the bridge"


def test_lan_address_is_checked(monkeypatch) -> None:
    import pytest

    from helpers.cluster.errors import ClusterError

    monkeypatch.delenv(config.LAN_ENV, raising=False)
    assert config.lan_address() == ""
    for bad, why in (
        ("not-an-ip", "is not an IP address"),
        ("127.0.0.1", "not reachable from other machines"),
        ("0.0.0.0", "not reachable from other machines"),
        ("203.0.113.254", "not an address of this machine"),
    ):
        monkeypatch.setenv(config.LAN_ENV, bad)
        with pytest.raises(ClusterError, match=why):
            config.lan_address()
