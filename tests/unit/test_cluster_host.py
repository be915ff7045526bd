"""Preflight checks say what is wrong in one sentence; the supervisor names a dying component."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from pathlib import Path

import pytest

from helpers.cluster import config, host
from helpers.cluster.errors import ClusterError, ComponentFailed
from helpers.cluster.supervise import Supervisor


def test_a_port_in_use_is_named_with_its_component() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert host.port_in_use(port)
        others = {f.name: 1 for f in dataclasses.fields(config.Ports)}  # port 1: free
        with pytest.raises(ClusterError, match=rf"Port {port}/tcp on 127.0.0.1.*kube-scheduler"):
            host.check_ports(config.Ports(**{**others, "scheduler": port}))
    assert not host.port_in_use(port)


def test_a_udp_port_in_use_is_found() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert host.port_in_use(port, proto="udp")
    assert not host.port_in_use(port, proto="udp")


def test_the_api_port_message_says_how_to_move_it() -> None:
    error = host._port_taken("kube-apiserver", 6443, config.NODE_IP)
    assert str(error) == (
        f"Port 6443/tcp on {config.NODE_IP}, which the local cluster's kube-apiserver needs, "
        "is already in use by another program: stop that program or set COURSE_API_PORT to a "
        "free port."
    )


def test_the_node_ports_are_the_api_server_and_dns() -> None:
    assert config.Ports().on_node_ip() == {
        "kube-apiserver": (6443, "tcp"),
        "CoreDNS": (53, "udp"),
        "CoreDNS (TCP)": (53, "tcp"),
    }
    assert config.Ports.from_env().apiserver == 6443
    assert all(port != 6443 for port in config.Ports().by_component().values())


def test_kernel_versions_are_read_from_the_release_string() -> None:
    assert host.kernel_version("6.1.0-18-amd64") == (6, 1)
    assert host.kernel_version("5.10.0") == (5, 10)
    assert host.kernel_version("weird") == (0, 0)
    assert host.kernel_version("5.10.0") < host.NFTABLES_MIN_KERNEL <= host.kernel_version("6.1")


def test_the_kube_proxy_mode_follows_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "nftables_usable", lambda: True)
    monkeypatch.setattr(host, "iptables_usable", lambda: True)
    assert host.kube_proxy_mode({}) == "nftables"
    assert host.kube_proxy_mode({"COURSE_KUBE_PROXY_MODE": "iptables"}) == "iptables"
    monkeypatch.setattr(host, "nftables_usable", lambda: False)
    assert host.kube_proxy_mode({}) == "iptables"
    monkeypatch.setattr(host, "iptables_usable", lambda: False)
    with pytest.raises(ClusterError, match=r"needs nftables .* or iptables"):
        host.kube_proxy_mode({})
    with pytest.raises(ClusterError, match=r"COURSE_KUBE_PROXY_MODE='ipvs' is not"):
        host.kube_proxy_mode({"COURSE_KUBE_PROXY_MODE": "ipvs"})


def test_another_kube_proxy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "nft_tables", lambda name="kube-proxy": ["ip kube-proxy"])
    monkeypatch.setattr(host, "kube_iptables_chains", lambda: ["iptables filter KUBE-FIREWALL"])
    assert host.other_kube_proxy_rules("nftables") == ["the nftables table ip kube-proxy"]
    assert host.other_kube_proxy_rules("iptables")[1] == "the iptables filter KUBE-FIREWALL chain"
    with pytest.raises(ClusterError, match=r"already has kube-proxy rules \(the nftables table"):
        host.check_no_other_kube_proxy("nftables")


def test_an_empty_iptables_nft_table_is_recognised() -> None:
    empty = (
        "table ip6 nat {\n\tchain OUTPUT {\n\t\ttype nat hook output priority -100; "
        "policy accept;\n\t}\n}\n"
    )
    assert host.nft_table_is_empty(empty)
    assert not host.nft_table_is_empty(empty.replace("accept;\n", "accept;\n\t\tcounter\n"))


def test_proc_net_addresses_are_decoded() -> None:
    assert host.proc_net_address("0100007F:0050") == ("127.0.0.1", 80)
    assert host.proc_net_address("0100550A:0035") == (config.NODE_IP, 53)


def test_our_own_listener_is_seen(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ("tcp", "127.0.0.1", port) in host.listening_sockets([os.getpid()])


def test_not_root_is_one_sentence_with_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match=r"need root.*COURSE_BACKEND=kind"):
        host.require_linux_root()


def test_missing_packages_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "PACKAGE_FILES", {"runc": ("/nonexistent/runc",)})
    assert host.missing_packages() == ["runc"]


def test_missing_packages_can_be_limited_to_a_few(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        host, "PACKAGE_FILES", {"runc": ("/nonexistent/runc",), "busybox-static": ("/nonexistent",)}
    )
    assert host.missing_packages(only=("busybox-static",)) == ["busybox-static"]
    assert host.missing_packages(only=()) == []


def test_mounts_under_a_fresh_directory_are_none(tmp_path: Path) -> None:
    assert host.mounts_under(tmp_path) == []


def test_supervisor_tracks_and_stops_a_process(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "run", tmp_path / "logs")
    pid = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    assert sup.pid("sleeper") == pid and sup.alive("sleeper")
    sup.stop("sleeper", timeout=5)
    assert not sup.alive("sleeper")


def test_a_component_that_dies_is_named_with_its_log_tail(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "run", tmp_path / "logs")
    sup.start(
        "broken",
        [sys.executable, "-c", "print('bind: address already in use'); raise SystemExit(1)"],
    )
    with pytest.raises(ComponentFailed) as info:
        sup.wait_for("broken", lambda: False, "ready", timeout=10)
    message = str(info.value)
    assert message.startswith("broken exited while we waited for ready.")
    assert "bind: address already in use" in message


def test_sysctls_the_kubelet_changed_are_put_back(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "panic").write_text("1\n")
    before = host.read_sysctls(["kernel/panic", "kernel/absent"], root=tmp_path)
    assert before == {"kernel/panic": "1"}
    (tmp_path / "kernel" / "panic").write_text("10\n")  # what the kubelet writes
    assert host.restore_sysctls(before, root=tmp_path) == []
    assert (tmp_path / "kernel" / "panic").read_text() == "1\n"
    assert set(host.KUBELET_SYSCTLS) >= {"kernel/panic", "vm/overcommit_memory"}
