"""helpers.facts.FEATURES against the live API server: each date the course prints is this
cluster's own answer (``kubernetes_feature_enabled`` in its metrics), on every version."""

from __future__ import annotations

import pytest

from helpers import facts
from helpers.course import Course

pytestmark = pytest.mark.cluster


def test_every_gated_feature_is_what_its_dates_say_on_this_release(course: Course) -> None:
    version = facts.kubernetes_version(course)
    gates = facts.feature_gates(course)
    assert gates, "the API server reports its feature gates"
    checked = 0
    for key, feature in facts.FEATURES.items():
        if not feature.gate:
            continue
        if feature.gate not in gates:
            # a gate appears with its alpha (or beta) and goes some releases after GA;
            # in between it must be reported
            too_new = feature.gate_since is not None and version < feature.gate_since
            retired = feature.ga is not None and version > feature.ga
            assert too_new or retired, (key, "gate missing", version)
            continue
        stage, enabled = gates[feature.gate]
        assert enabled == (version >= feature.on), (key, stage, enabled, version)
        assert (stage == "") == bool(feature.ga and version >= feature.ga), (key, stage, version)
        checked += 1
    assert checked >= 5, checked


def test_what_every_notebook_needs_is_on(course: Course) -> None:
    version = facts.kubernetes_version(course)
    needed = [f for f in facts.FEATURES.values() if f.needed]
    assert all(version >= f.on for f in needed)
    assert max(f.on for f in needed) <= facts.MIN_KUBERNETES
