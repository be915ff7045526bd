"""Flags and configuration files of the local cluster: loopback only, the course's SA flags."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from helpers.cluster import components, config

LAYOUT = config.Layout(cache=Path("/cache"), state=Path("/state"))
PORTS = config.Ports()
BIN = Path("/bin-dir")


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in argv[1:] if "=" in a)


def test_api_server_listens_on_loopback_and_sets_the_service_account_flags() -> None:
    flags = _flags(components.apiserver_args(BIN, LAYOUT, PORTS))
    assert flags["bind-address"] == "127.0.0.1"
    assert flags["service-account-issuer"] == config.SERVICE_ACCOUNT_ISSUER
    assert flags["service-account-signing-key-file"] == "/state/pki/sa.key"
    assert flags["service-account-key-file"] == "/state/pki/sa.pub"
    assert flags["authorization-mode"] == "Node,RBAC"
    assert flags["etcd-servers"].startswith("http://127.0.0.1:")
    assert flags["kubelet-certificate-authority"] == "/state/pki/ca.crt"


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
    assert bridge["ipMasq"] is False and bridge["isGateway"] is False
    assert bridge["ipam"]["dataDir"].startswith("/state/")
