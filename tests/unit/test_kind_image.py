"""The course's kind node image: its recipe, tag, content and image archives (no Docker)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from helpers.cluster import build, config, debian, images, kindimage
from helpers.cluster.images import Entry, HostFile

#: What `kubeadm config images list --kubernetes-version v1.37.2` prints (kubeadm v1.37.2).
KUBEADM_1_37_2 = [
    "registry.k8s.io/kube-apiserver:v1.37.2",
    "registry.k8s.io/kube-controller-manager:v1.37.2",
    "registry.k8s.io/kube-scheduler:v1.37.2",
    "registry.k8s.io/kube-proxy:v1.37.2",
    "registry.k8s.io/coredns/coredns:v1.14.6",
    "registry.k8s.io/pause:3.10.2",
    "registry.k8s.io/etcd:3.7.0-0",
]

INPUTS = {"recipe": "a", "kind": "v0.32.0", "kubernetes-v1.36.1": "k", "pause": "p"}


@pytest.fixture
def bins(tmp_path: Path) -> dict[str, Path]:
    names = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "kubeadm",
        "kubelet",
        "kubectl",
        "etcd",
        "coredns",
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "crictl",
    ]
    out = {}
    for n in names:
        (tmp_path / "bin" / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "bin" / n).write_bytes(n.encode())
        out[n] = tmp_path / "bin" / n
    return out


def test_recipe_hash_is_stable_and_ignores_order() -> None:
    reordered = dict(reversed(list(INPUTS.items())))
    assert kindimage.recipe_hash(INPUTS) == kindimage.recipe_hash(reordered)
    assert len(kindimage.recipe_hash(INPUTS)) == 12


@pytest.mark.parametrize("key", sorted(INPUTS))
def test_recipe_hash_changes_with_every_input(key: str) -> None:
    assert kindimage.recipe_hash(INPUTS) != kindimage.recipe_hash({**INPUTS, key: "other"})


def test_node_image_tag_names_the_course_kubernetes_and_recipe() -> None:
    tag = kindimage.node_image_tag("0123456789ab")
    assert tag == f"sa-course/kind-node:v{config.KUBERNETES_VERSION}-0123456789ab"


def test_recipe_inputs_cover_every_build_the_image_is_made_of(tmp_path: Path) -> None:
    layout = config.Layout(cache=tmp_path, state=tmp_path / "state")
    layout.images.mkdir(parents=True)
    pause = layout.images / "pause-3.10.2.tar"  # where images.ensure_images writes it
    pause.write_bytes(b"pause")
    for make in build.KIND_NODE_BUILDS:
        b = make()
        (layout.bin / b.key).mkdir(parents=True)
        (layout.bin / b.key / build.STAMP).write_text(f"stamp-{b.name}\n")
    inputs = kindimage.recipe_inputs(layout, pause)
    assert inputs["kind"] == config.KIND_VERSION
    assert inputs["coredns-" + config.COREDNS_VERSION] == "stamp-coredns"
    assert inputs["crictl-" + build.CRICTL_VERSION] == "stamp-crictl"
    assert {f"{m().key}" for m in build.KIND_NODE_BUILDS} <= set(inputs)
    assert "runc" in inputs["debian"] and kindimage.DEBIAN_SUITE in inputs["debian"]


def test_component_images_are_what_kubeadm_asks_for_with_the_config_patch(
    bins: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_K8S_VERSION", "1.37.2")
    tags = {img.tag for img in kindimage.component_images(bins)}
    patch = kindimage.kubeadm_patch()
    expected = set()
    for ref in KUBEADM_1_37_2:
        repo = ref.rsplit(":", 1)[0]
        if repo.endswith("/pause"):
            continue  # containerd's sandbox image replaces kubeadm's pause
        if repo.endswith("/etcd"):
            assert ref == f"{repo}:{patch['etcd']['local']['imageTag']}-0", "kubeadm's own pin"
            ref = f"{repo}:{patch['etcd']['local']['imageTag']}"
        if repo.endswith("/coredns"):
            assert ref == f"{repo}:{patch['dns']['imageTag']}", "kubeadm's own pin"
        expected.add(ref)
    assert tags == expected


def test_etcd_is_tagged_with_the_version_the_course_builds(bins: dict[str, Path]) -> None:
    etcd = next(i for i in kindimage.component_images(bins) if i.name == "etcd")
    assert etcd.tag == f"registry.k8s.io/etcd:{config.ETCD_VERSION}"
    assert etcd.binary == bins["etcd"] and etcd.path == "usr/local/bin/etcd"


def test_kube_proxy_runs_on_the_iptables_userland_coredns_unprivileged(
    bins: dict[str, Path],
) -> None:
    by_name = {i.name: i for i in kindimage.component_images(bins)}
    assert by_name["kube-proxy"].base == "kube-proxy"
    assert by_name["kube-proxy"].path == "usr/local/bin/kube-proxy"  # kubeadm's command
    assert by_name["coredns"].image_config == {"Entrypoint": ["/coredns"], "User": "65532:65532"}


def test_containerd_config_uses_the_pause_image_the_course_builds() -> None:
    toml = f'[plugins."io.containerd.grpc.v1.cri"]\n  {kindimage.KIND_SANDBOX_LINE}\n'
    out = kindimage.containerd_config(toml)
    assert f'sandbox_image = "{config.PAUSE_IMAGE}"' in out
    assert 'pause:3.10"' not in out


def test_a_changed_kind_containerd_config_is_one_sentence() -> None:
    with pytest.raises(kindimage.ClusterError, match="no longer names its sandbox image"):
        kindimage.containerd_config('sandbox_image = "registry.k8s.io/pause:9"\n')


def test_cri_base_spec_adds_kinds_hook_and_drops_rlimits() -> None:
    spec = {"process": {"rlimits": [{"type": "RLIMIT_NOFILE"}], "args": ["sh"]}}
    out = kindimage.cri_base_spec(spec)
    assert out["hooks"]["createContainer"] == [{"path": "/kind/bin/mount-product-files.sh"}]
    assert "rlimits" not in out["process"] and out["process"]["args"] == ["sh"]
    assert "rlimits" in spec["process"]  # the input is left alone


def test_cni_conflist_is_a_bridge_on_the_baked_pod_range() -> None:
    doc = json.loads(kindimage.cni_conflist())
    bridge, portmap = doc["plugins"]
    assert bridge["type"] == "bridge" and bridge["ipam"]["ranges"] == [
        [{"subnet": kindimage.POD_RANGE}]
    ]
    assert bridge["hairpinMode"] is True  # a Pod reaching itself through its Service
    assert portmap["type"] == "portmap"


def base_files(root: Path) -> Path:
    for rel in (
        "usr/local/bin/entrypoint",
        "kind/bin/mount-product-files.sh",
        "kind/README.txt",
        "etc/containerd/config.toml",
        "etc/systemd/system/kubelet.service",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def test_node_layer_has_kinds_files_binaries_and_configuration(
    tmp_path: Path, bins: dict[str, Path]
) -> None:
    entries = kindimage.node_layer_entries(
        base_files(tmp_path / "files"), bins, "ours = true\n", {"ociVersion": "1"}
    )
    by_path = {e.path: e for e in entries}
    assert len(by_path) == len(entries)  # one member per path
    assert by_path["usr/local/bin/entrypoint"].mode == 0o755
    assert by_path["kind/bin/mount-product-files.sh"].mode == 0o755
    assert by_path["kind/README.txt"].mode == 0o644
    for name, where in (
        ("kubelet", "usr/bin"),
        ("kubeadm", "usr/bin"),
        ("crictl", "usr/local/bin"),
    ):
        entry = by_path[f"{where}/{name}"]
        assert isinstance(entry, HostFile) and entry.source == bins[name]
    toml = by_path["etc/containerd/config.toml"]
    assert isinstance(toml, Entry) and toml.data == b"ours = true\n"  # replaces kind's
    wants = "etc/systemd/system/multi-user.target.wants"
    for unit in kindimage.ENABLED_UNITS:
        assert by_path[f"{wants}/{unit}"].target == f"/etc/systemd/system/{unit}"
    assert by_path["etc/systemd/system/systemd-binfmt.service"].target == "/dev/null"
    assert by_path["opt/cni/bin"].target == "/usr/lib/cni"
    assert by_path["kind/version"].data == f"v{config.KUBERNETES_VERSION}".encode()
    assert "kind/manifests/default-cni.yaml" not in by_path  # no kindnetd offline
    assert "etc/kubernetes/manifests" in by_path


def test_mmdebstrap_runs_extract_hooks_for_the_unpacked_variant(tmp_path: Path) -> None:
    out = tmp_path / "r.tar"
    extract = debian.mmdebstrap_command(out, "extract", ["iptables"], ["true"])
    minbase = debian.mmdebstrap_command(out, "minbase", ["systemd"], ["true"])
    assert "--extract-hook=true" in extract and "--customize-hook=true" in minbase
    assert extract[:3] == ["mmdebstrap", "--variant=extract", "--include=iptables"]
    assert debian.DEBIAN_SUITE in minbase and str(out) in minbase


def test_rootfs_key_follows_the_packages_and_hooks() -> None:
    key = debian.rootfs_key(["a", "b"], "minbase", ["h"])
    assert key == debian.rootfs_key(["a", "b"], "minbase", ["h"])
    assert key != debian.rootfs_key(["a", "c"], "minbase", ["h"])
    assert key != debian.rootfs_key(["a", "b"], "minbase", ["other"])


def test_iptables_commands_point_at_debians_nft_backend() -> None:
    hooks = kindimage.iptables_hooks()
    assert 'ln -sf xtables-nft-multi "$1"/usr/sbin/iptables-restore' in hooks
    assert len(hooks) == 6


def test_docker_archive_of_layer_files(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"binary")
    lower, upper = tmp_path / "lower.tar", tmp_path / "upper.tar"
    images.write_layer(lower, [Entry("usr", "dir", mode=0o755)])
    images.write_layer(upper, [HostFile("usr/x", tmp_path / "bin")])
    out = tmp_path / "image.tar"
    images.write_docker_archive(out, ["registry.k8s.io/x:v1"], [lower, upper], {"Cmd": ["x"]})
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        (entry,) = manifest
        blob = json.load(tar.extractfile(entry["Config"]))
        with tarfile.open(fileobj=tar.extractfile(entry["Layers"][1])) as layer:
            assert layer.extractfile("usr/x").read() == b"binary"
    assert entry["RepoTags"] == ["registry.k8s.io/x:v1"]
    assert blob["rootfs"]["diff_ids"] == [
        f"sha256:{images.file_sha256(lower)}",
        f"sha256:{images.file_sha256(upper)}",
    ]
    assert blob["config"] == {"Cmd": ["x"]} and blob["os"] == "linux"
    first = out.read_bytes()
    images.write_docker_archive(out, ["registry.k8s.io/x:v1"], [lower, upper], {"Cmd": ["x"]})
    assert out.read_bytes() == first  # reproducible


def test_a_missing_mmdebstrap_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    layout = config.Layout(cache=tmp_path, state=tmp_path / "state")
    with pytest.raises(kindimage.ClusterError, match=r"install it \(apt-get install mmdebstrap\)"):
        debian.ensure_rootfs(layout, "node", "minbase", ["bash"], [], kindimage.Progress(True))


def test_a_present_node_image_is_not_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = config.Layout(cache=tmp_path, state=tmp_path / "state")
    monkeypatch.setattr(kindimage, "docker_available", lambda timeout=10: True)
    monkeypatch.setattr(kindimage, "ensure_inputs", lambda lay, p: {"pause.tar": Path("p.tar")})
    monkeypatch.setattr(kindimage, "recipe_inputs", lambda lay, pause: INPUTS)
    monkeypatch.setattr(kindimage, "image_present", lambda ref: True)
    monkeypatch.setattr(kindimage, "ensure_rootfs", lambda *a: pytest.fail("rebuilt"))
    tag = kindimage.ensure_node_image(layout, kindimage.Progress(quiet=True))
    assert tag == kindimage.node_image_tag(kindimage.recipe_hash(INPUTS))


def test_without_docker_the_node_image_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kindimage, "docker_available", lambda timeout=10: False)
    monkeypatch.setattr(kindimage, "ensure_inputs", lambda lay, p: pytest.fail("built"))
    layout = config.Layout(cache=tmp_path, state=tmp_path / "state")
    with pytest.raises(kindimage.ClusterError, match="no Docker engine answers here"):
        kindimage.ensure_node_image(layout, kindimage.Progress(quiet=True))
