"""helpers.podfiles: parsing ``stat`` output and atomic-writer directory names."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from helpers import podfiles
from helpers.pods import ExecResult


def test_parse_stat_symlink_busybox() -> None:
    st = podfiles.parse_stat(
        "/var/run/secrets/kubernetes.io/serviceaccount/token|symbolic link|12|7|"
        "2026-11-28 09:45:46.329673317 +0000\n"
    )
    assert st.kind == "symbolic link"
    assert (st.size, st.inode) == (12, 7)
    assert st.modified == datetime(2026, 11, 28, 9, 45, 46, 329673, tzinfo=UTC)


def test_parse_stat_converts_offsets_to_utc() -> None:
    st = podfiles.parse_stat("f|regular file|1158|3|2026-11-28 10:45:46.5 +0100")
    assert st.modified == datetime(2026, 11, 28, 9, 45, 46, 500000, tzinfo=UTC)


def test_parse_stat_without_fraction_or_offset() -> None:
    st = podfiles.parse_stat("d|directory|100|2|2026-11-28 09:45:46")
    assert st.modified == datetime(2026, 11, 28, 9, 45, 46, tzinfo=UTC)


@pytest.mark.parametrize(
    "line",
    ["", "a|b|c", "p|regular file|x|3|2026-11-28 09:45:46", "p|regular file|1|3|yesterday"],
)
def test_parse_stat_rejects_other_output(line: str) -> None:
    with pytest.raises(ValueError):
        podfiles.parse_stat(line)


def test_stat_in_pod_builds_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_exec(core, namespace, pod, command, container=None):
        seen.append(command)
        return ExecResult("t|regular file|5|9|2026-11-28 09:45:46.1 +0000\n", "", 0)

    monkeypatch.setattr(podfiles, "exec_in_pod", fake_exec)
    core = SimpleNamespace()
    plain = podfiles.stat_in_pod(core, "ns", "pod", "/t")  # type: ignore[arg-type]
    followed = podfiles.stat_in_pod(core, "ns", "pod", "/t", follow=True)  # type: ignore[arg-type]
    assert seen == [
        ["stat", "-c", podfiles.STAT_FORMAT, "/t"],
        ["stat", "-L", "-c", podfiles.STAT_FORMAT, "/t"],
    ]
    assert plain == followed


def test_data_dir_time() -> None:
    assert podfiles.data_dir_time("..2026_11_28_09_45_46.1133852166") == datetime(
        2026, 11, 28, 9, 45, 46, tzinfo=UTC
    )
    assert podfiles.data_dir_time("/sa/..2026_01_02_03_04_05.7\n").hour == 3


@pytest.mark.parametrize("name", ["..data", "token", "..2026_11_28.1", "2026_11_28_09_45_46.1"])
def test_data_dir_time_rejects_other_names(name: str) -> None:
    with pytest.raises(ValueError, match="atomic-writer"):
        podfiles.data_dir_time(name)
