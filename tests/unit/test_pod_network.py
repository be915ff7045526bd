"""The hub's reach into the Pods (helpers.cluster.podnetwork): each refusal is one sentence.

The routes and the reachability themselves are proven beside real clusters by the hub runs
(``tests/run.py``: local, kind, and the local cluster as an existing one).
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace as N

import pytest

from helpers.cluster import podnetwork
from helpers.cluster.errors import ClusterError


def test_an_existing_cluster_needs_this_machines_address() -> None:
    with pytest.raises(ClusterError, match="HUB_POD_ADDRESS"):
        podnetwork.pod_network("kubeconfig", core=None)


def test_an_address_of_another_machine_is_refused() -> None:
    with pytest.raises(ClusterError, match=r"198\.51\.100\.77 is not an address of this machine"):
        podnetwork.pod_network("kubeconfig", core=None, host_address="198.51.100.77")


def test_a_route_only_root_may_add_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def ip(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if args[:2] == ["-j", "route"]:
            return subprocess.CompletedProcess(args, 0, "[]", "")
        refused = "RTNETLINK answers: Operation not permitted"
        return subprocess.CompletedProcess(args, 2, "", refused)

    monkeypatch.setattr(podnetwork, "_ip", ip)
    with pytest.raises(ClusterError) as caught:
        podnetwork._ensure_route("10.244.0.0/24", "172.18.0.2")
    message = str(caught.value)
    assert "sudo ip route replace 10.244.0.0/24 via 172.18.0.2" in message
    assert message.count(". ") == 0  # one sentence


def test_a_route_already_there_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def ip(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, '[{"gateway": "172.18.0.2"}]', "")

    monkeypatch.setattr(podnetwork, "_ip", ip)
    podnetwork._ensure_route("10.244.0.0/24", "172.18.0.2")
    assert calls == [["-j", "route", "get", "10.244.0.1"]]


def test_unreachable_pods_are_one_sentence() -> None:
    pod = N(
        spec=N(host_network=False, containers=[N(ports=[N(container_port=1, protocol="TCP")])]),
        status=N(phase="Running", pod_ip="127.0.0.1"),  # nothing listens on port 1
    )
    core = N(list_namespaced_pod=lambda ns, _request_timeout: N(items=[pod]))
    net = podnetwork.PodNetwork("172.18.0.1", (("10.244.0.0/24", "172.18.0.2"),))
    with pytest.raises(ClusterError, match=r"through the route 10\.244\.0\.0/24 via"):
        podnetwork.check_reachable(core, net, timeout=0.5)
