"""Preflight checks say what is wrong in one sentence; the supervisor names a dying component."""

from __future__ import annotations

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
        with pytest.raises(
            ClusterError, match=rf"Port {port} on 127.0.0.1.*kube-apiserver.*COURSE_API_PORT"
        ):
            host.check_ports(
                config.Ports(
                    apiserver=port,
                    etcd_client=1,
                    etcd_peer=1,
                    kubelet=1,
                    kubelet_healthz=1,
                    controller_manager=1,
                    scheduler=1,
                )
            )
    assert not host.port_in_use(port)


def test_not_root_is_one_sentence_with_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match=r"need root.*COURSE_BACKEND=kind"):
        host.require_linux_root()


def test_missing_packages_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "PACKAGE_FILES", {"runc": ("/nonexistent/runc",)})
    assert host.missing_packages() == ["runc"]


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
