"""Unit tests for helpers.metrics: parsing the API server's Prometheus text."""

from __future__ import annotations

from helpers.metrics import metric_value, read_metrics

TEXT = """\
# HELP serviceaccount_legacy_tokens_total [ALPHA] Cumulative legacy service account tokens used
# TYPE serviceaccount_legacy_tokens_total counter
serviceaccount_legacy_tokens_total 241
serviceaccount_legacy_tokens_total_extra 1
apiserver_request_total{code="200",verb="GET"} 10
apiserver_request_total{code="403",verb="GET"} 2.5e+01
"""


def test_unlabelled_counter() -> None:
    assert metric_value(TEXT, "serviceaccount_legacy_tokens_total") == 241


def test_labelled_samples_are_summed() -> None:
    assert metric_value(TEXT, "apiserver_request_total") == 35


def test_missing_metric_and_comments() -> None:
    assert metric_value(TEXT, "serviceaccount_stale_tokens_total") is None
    assert metric_value("# TYPE x counter\n", "x") is None


class FakeCourse:
    def get_raw(self, path: str) -> bytes:
        assert path == "/metrics"
        return TEXT.encode()


def test_read_metrics() -> None:
    names = ["serviceaccount_legacy_tokens_total", "nope"]
    assert read_metrics(FakeCourse(), names) == {  # type: ignore[arg-type]
        "serviceaccount_legacy_tokens_total": 241.0,
        "nope": None,
    }
