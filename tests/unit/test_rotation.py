"""Unit tests for helpers.rotation: the kubelet's refresh rule, read from tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from helpers.rotation import (
    EXTENSION_SECONDS,
    KUBELET_MAX_TTL_SECONDS,
    WARN_ONLY_SECONDS,
    format_duration,
    is_extended,
    refresh_after,
    refresh_table,
    requested_seconds,
)
from helpers.tokens import MISSING, Token

if TYPE_CHECKING:
    from conftest import TokenKit


@pytest.mark.parametrize(
    ("requested", "after"),
    [
        (600, 480),  # the minimum: 80 %
        (3600, 2880),  # kubectl create token's default
        (3607, 2886),  # the kubelet's default: 3607 - 721 (integer 20 %), not 2885.6
        (108_000, 86_400),  # 30 h: 80 % would be 24 h exactly
        (172_800, 86_400),  # 48 h: the 24 h rule fires first
        (EXTENSION_SECONDS, KUBELET_MAX_TTL_SECONDS),
    ],
)
def test_refresh_after(requested: int, after: int) -> None:
    assert refresh_after(requested) == after


def test_refresh_after_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        refresh_after(0)


def test_extended_token_reports_what_was_requested(kit: TokenKit, bound_token: str) -> None:
    assert is_extended(bound_token)
    assert requested_seconds(bound_token) == WARN_ONLY_SECONDS
    assert requested_seconds(Token(bound_token)) == 3607


def test_plain_token_reports_its_ttl(kit: TokenKit) -> None:
    raw = kit.sign(kit.bound_claims(ttl=600, warn_after=None))
    assert not is_extended(raw)
    assert requested_seconds(raw) == 600


def test_legacy_token_has_no_lifetime(legacy_token: str) -> None:
    with pytest.raises(ValueError, match="never expires"):
        requested_seconds(legacy_token)


def test_refresh_table(kit: TokenKit, bound_token: str) -> None:
    tokens = {
        "kubelet default": bound_token,
        "kubectl": kit.sign(kit.bound_claims(ttl=3600, warn_after=None, binding=None)),
        "two days": kit.sign(kit.bound_claims(ttl=172_800, warn_after=None)),
    }
    table = refresh_table(tokens, kubelet=["kubelet default", "two days"])
    assert list(table.index) == list(tokens)
    default = table.loc["kubelet default"]
    assert default["requested (s)"] == 3607
    assert default["JWT exp − iat (s)"] == EXTENSION_SECONDS
    assert default["extended"] is True
    assert default["replaced after (s)"] == 2886
    assert default["replaced after"] == "48 min 6 s"
    assert default["rule"] == "80 % of requested"
    assert default["replaced at (UTC)"] == "2026-11-28 09:48:06Z"
    assert default["valid until (JWT exp, UTC)"] == "2027-11-28 09:00:00Z"
    assert table.loc["two days", "rule"] == "24 h"
    assert table.loc["two days", "replaced after (s)"] == 86_400
    assert table.loc["kubectl", "replaced after (s)"] == MISSING
    assert table.loc["kubectl", "rule"].startswith("nobody")


def test_refresh_table_defaults_to_all_managed(kit: TokenKit) -> None:
    table = refresh_table({"a": kit.sign(kit.bound_claims(ttl=600, warn_after=None))})
    assert table.loc["a", "replaced after (s)"] == 480


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (480, "8 min"), (3661, "1 h 1 min 1 s"), (-60, "-1 min")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
