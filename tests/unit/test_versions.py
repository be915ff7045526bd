"""helpers.cluster.versions: which Kubernetes the course's clusters run, checked offline."""

from __future__ import annotations

import pytest

from helpers.cluster import config, versions
from helpers.cluster.errors import ClusterError


def test_every_supported_minor_from_the_floor_to_the_newest() -> None:
    minors = [tuple(int(x) for x in m.split(".")) for m in versions.RELEASES]
    assert minors[0] == versions.FLOOR
    assert minors == sorted(minors) and list(versions.RELEASES)[-1] == versions.NEWEST
    for minor, release in versions.RELEASES.items():
        assert release.minor == minor
        assert release.pause_image.startswith("registry.k8s.io/pause:")


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("1.34", "1.34.4"),
        ("v1.34", "1.34.4"),
        (" 1.33 ", "1.33.13"),
        ("1.37.2", "1.37.2"),
        ("", "1.37.2"),
    ],
)
def test_a_minor_or_the_known_patch(spec: str, want: str) -> None:
    assert versions.resolve(spec).kubernetes == want


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("1.32", "older than the course's floor"),
        ("1.38", "newer than the course knows"),
        ("1.38.0-beta.0", "no pre-releases"),
        ("latest", "no pre-releases"),
        ("1", "no pre-releases"),
    ],
)
def test_an_unsupported_version_is_one_sentence_listing_what_is(spec: str, why: str) -> None:
    with pytest.raises(ClusterError) as refused:
        versions.resolve(spec)
    message = str(refused.value)
    assert why in message and "1.33.13" in message and "1.37.2" in message
    assert message.count(". ") == 0, "one sentence"


def test_config_reads_the_release_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(versions.ENV, "1.35")
    assert config.KUBERNETES_VERSION == "1.35.4"
    assert config.ETCD_VERSION == "3.6.6" and config.PAUSE_IMAGE.endswith(":3.10.1")
    assert config.KIND_NODE_IMAGE == "", "kind v0.33.0 publishes only a 1.37 node image"
    monkeypatch.setenv(versions.ENV, "1.37")
    assert config.KIND_NODE_IMAGE.startswith("kindest/node:v1.37.")


def test_kubeadm_constants_are_read_as_kubeadm_writes_them() -> None:
    text = (
        'DefaultEtcdVersion = "3.5.24-0"\n\tCoreDNSVersion = "v1.12.0"\n\tPauseVersion = "3.10"\n'
    )
    assert versions.pins_from_constants(text) == ("3.5.24", "v1.12.0", "3.10")
    with pytest.raises(ClusterError, match="no longer name the pause version"):
        versions.pins_from_constants('DefaultEtcdVersion = "3.5.24-0"\nCoreDNSVersion = "v1"')
