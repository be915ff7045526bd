"""The wrapper-module recipe that builds Kubernetes, etcd and containerd from the proxy."""

from __future__ import annotations

from pathlib import Path

from helpers.cluster import build, config

UPSTREAM = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/kubelet => ./staging/src/k8s.io/kubelet
)
"""


def test_relative_replaces_are_the_sibling_modules() -> None:
    assert build.relative_replaces(UPSTREAM) == ["k8s.io/api", "k8s.io/kubelet"]


def test_wrapper_pins_siblings_and_keeps_go_and_godebug_lines() -> None:
    gomod = build.wrapper_gomod(build.kubernetes_build("1.36.1"), UPSTREAM)
    assert "require k8s.io/kubernetes v1.36.1" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.36.1" in gomod
    assert "\tk8s.io/kubelet => k8s.io/kubelet v0.36.1" in gomod
    assert "go 1.26.0" in gomod and "godebug default=go1.26" in gomod


def test_modules_without_relative_replaces_get_no_replace_block() -> None:
    gomod = build.wrapper_gomod(build.containerd_build(), "module x\n\ngo 1.25.0\n")
    assert "replace" not in gomod
    assert f"require github.com/containerd/containerd/v2 v{config.CONTAINERD_VERSION}" in gomod


def test_kubernetes_binaries_are_stamped_with_their_version() -> None:
    cmd = build.build_command(build.kubernetes_build("1.36.1"), Path("/out"), jobs=2)
    ldflags = cmd[cmd.index("-ldflags") + 1]
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.1" in ldflags
    assert cmd[cmd.index("-o") + 1] == "/out/"
    assert "k8s.io/kubernetes/cmd/kubelet" in cmd


def test_a_single_binary_is_named_explicitly() -> None:
    # etcd's main package path ends in /v3: without a file name go would call it "v3"/"server".
    cmd = build.build_command(build.etcd_build(), Path("/out"), jobs=2)
    assert cmd[cmd.index("-o") + 1] == "/out/etcd"


def test_tools_file_imports_every_binary_package() -> None:
    text = build.tools_go(build.containerd_build())
    assert text.startswith("//go:build tools")
    assert '_ "github.com/containerd/containerd/v2/cmd/ctr"' in text


def test_is_built_needs_stamp_and_binaries(tmp_path: Path) -> None:
    layout = config.Layout(cache=tmp_path, state=tmp_path / "state")
    b = build.etcd_build()
    assert not build.is_built(b, layout)
    out = layout.bin / b.key
    out.mkdir(parents=True)
    (out / "etcd").write_text("")
    assert not build.is_built(b, layout)
    (out / build.STAMP).write_text("x")
    assert build.is_built(b, layout)
