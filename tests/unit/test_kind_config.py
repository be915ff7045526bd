"""kind's cluster config, derived from the host: no Docker needed."""

from __future__ import annotations

import pytest
import yaml

from helpers.cluster import config, kind, kindimage
from helpers.cluster.kind import HostFacts, NodeImage

CGROUP_V1_NO_SYS_RESOURCE = HostFacts(cgroup_version=1, has_sys_resource=False)
PLAIN_HOST = HostFacts(cgroup_version=2, has_sys_resource=True)


def doc(image: NodeImage, host: HostFacts) -> dict:
    return yaml.safe_load(kind.kind_config(image, host))


def patches(d: dict) -> list[dict]:
    return [yaml.safe_load(p) for p in d.get("kubeadmConfigPatches", [])]


def test_one_control_plane_node_of_the_chosen_image_on_loopback() -> None:
    d = doc(NodeImage(), PLAIN_HOST)
    assert d["kind"] == "Cluster" and d["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert d["nodes"] == [{"role": "control-plane", "image": config.KIND_NODE_IMAGE}]
    assert d["networking"] == {"apiServerAddress": "127.0.0.1"}


def test_a_plain_host_with_the_official_image_needs_no_patches() -> None:
    d = doc(NodeImage(), PLAIN_HOST)
    assert "containerdConfigPatches" not in d and "kubeadmConfigPatches" not in d


def test_root_without_cap_sys_resource_restricts_oom_score_adj() -> None:
    d = doc(NodeImage(), HostFacts(cgroup_version=2, has_sys_resource=False))
    (patch,) = d["containerdConfigPatches"]
    assert '[plugins."io.containerd.grpc.v1.cri"]' in patch
    assert "restrict_oom_score_adj = true" in patch


def test_cgroup_v1_host_lets_the_kubelet_run_on_cgroup_v1() -> None:
    d = doc(NodeImage(), HostFacts(cgroup_version=1, has_sys_resource=True))
    assert patches(d) == [
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
        }
    ]
    assert "containerdConfigPatches" not in d


def test_the_course_image_gets_its_bridge_network_and_tells_kubeadm_its_tags() -> None:
    image = NodeImage("sa-course/kind-node:v1.36.1-abc", offline=True)
    d = doc(image, CGROUP_V1_NO_SYS_RESOURCE)
    assert d["nodes"][0]["image"] == image.ref
    assert d["networking"] == {
        "apiServerAddress": "127.0.0.1",
        "disableDefaultCNI": True,
        "podSubnet": kindimage.POD_SUBNET,
    }
    cluster_patch = next(p for p in patches(d) if p["kind"] == "ClusterConfiguration")
    assert cluster_patch["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster_patch["etcd"] == {"local": {"imageTag": config.ETCD_VERSION}}
    assert cluster_patch["dns"] == {"imageTag": kindimage.coredns_tag()}


def test_the_official_image_keeps_kinds_default_network() -> None:
    d = doc(NodeImage(), CGROUP_V1_NO_SYS_RESOURCE)
    assert "disableDefaultCNI" not in d["networking"]
    assert all(p["kind"] != "ClusterConfiguration" for p in patches(d))


def test_the_baked_pod_range_lies_in_the_pod_subnet() -> None:
    import ipaddress

    subnet = ipaddress.ip_network(kindimage.POD_SUBNET)
    assert ipaddress.ip_network(kindimage.POD_RANGE).subnet_of(subnet)


@pytest.mark.parametrize(
    ("capbnd", "has"),
    [("000001fffeffffff", False), ("000001ffffffffff", True), ("0000000001000000", True)],
)
def test_cap_sys_resource_is_read_from_the_bounding_set(capbnd: str, has: bool) -> None:
    status = f"Name:\tpython\nCapEff:\t0000000000000000\nCapBnd:\t{capbnd}\n"
    assert kind.bounding_set_has(kind.CAP_SYS_RESOURCE, status) is has


def test_host_facts_come_from_docker_and_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind, "docker_cgroup_version", lambda: 1)
    facts = kind.host_facts()
    assert facts.cgroup_version == 1
    assert isinstance(facts.has_sys_resource, bool)


@pytest.mark.parametrize(
    ("image", "host"),
    [
        (config.KIND_NODE_IMAGE, "registry-1.docker.io"),
        ("docker.io/kindest/node:v1", "registry-1.docker.io"),
        ("ghcr.io/acme/node:v1", "ghcr.io"),
        ("localhost:5000/node:v1", "localhost:5000"),
    ],
)
def test_registry_host_of_an_image(image: str, host: str) -> None:
    assert kind.registry_host(image) == host


def test_cgroup_version_without_a_docker_client_is_this_machines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(*a: object, **k: object) -> None:
        raise FileNotFoundError(2, "No such file or directory: 'docker'")

    monkeypatch.setattr(kind.subprocess, "run", missing)
    assert kind.docker_cgroup_version() in (1, 2)


def test_the_course_s_node_files_are_configured_through_kind_s_own_config(tmp_path) -> None:
    from helpers.cluster import auditpolicy

    files = tmp_path / "node-files"
    doc = yaml.safe_load(kind.kind_config(NodeImage(), HostFacts(), files))
    node = doc["nodes"][0]
    assert node["extraMounts"] == [
        {"hostPath": str(files), "containerPath": auditpolicy.IN_KIND_FILES, "readOnly": True}
    ]
    patches = [yaml.safe_load(p) for p in doc["kubeadmConfigPatches"]]
    api = next(p["apiServer"] for p in patches if "apiServer" in p)
    args = [(a["name"], a["value"]) for a in api["extraArgs"]]
    assert ("audit-policy-file", auditpolicy.IN_KIND_POLICY) in args
    assert ("audit-log-path", auditpolicy.IN_KIND_LOG) in args
    assert "service-account-key-file" not in dict(args), "kubeadm keeps its own sa.pub"
    init = next(p for p in patches if p["kind"] == "InitConfiguration")
    assert init["patches"] == {"directory": kind.KUBEADM_PATCHES}
    [op] = yaml.safe_load(kind.apiserver_manifest_patch())
    assert op == {
        "op": "add",
        "path": "/spec/containers/0/command/-",
        "value": f"--service-account-key-file={kind.PREVIOUS_SA_PUB}",
    }
    mounted = {v["mountPath"] for v in api["extraVolumes"]}
    assert mounted == {auditpolicy.IN_KIND_FILES, auditpolicy.IN_KIND_LOG.rsplit("/", 1)[0]}


def test_without_node_files_there_is_no_extra_mount() -> None:
    doc = yaml.safe_load(kind.kind_config(NodeImage(), HostFacts()))
    assert "extraMounts" not in doc["nodes"][0]
