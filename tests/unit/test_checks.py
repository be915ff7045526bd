"""Unit tests for the lab framework (helpers.labs.checks) and the pure parts of the labs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from helpers.labs import checks
from helpers.labs.checks import (
    CORRECT,
    NOT_ATTEMPTED,
    NOT_YET,
    RESULTS,
    Lab,
    NotAttempted,
    NotYet,
    Question,
    Result,
    ____,
    is_placeholder,
    one_sentence,
)
from helpers.labs.common import action, rules_allow
from helpers.labs.lab07_401_or_403 import _status_code


class Double(Question):
    title = "two times two"
    variables = ("ANSWER",)
    hints = ("Multiply.", "It is even.")
    solution_code = "ANSWER = 2 * 2"
    solution_note = "Arithmetic."

    def evaluate(self, ANSWER: Any) -> str:
        if ANSWER != 4:
            raise NotYet(f"`ANSWER` is {ANSWER!r}.")
        return "four."


class Boom(Question):
    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(name)
        self.error = error

    def evaluate(self) -> str:
        raise self.error


class Untouched(Question):
    def evaluate(self) -> str:
        raise NotAttempted("nothing changed in the cluster yet.")


def test_placeholder_is_one_visible_object() -> None:
    assert repr(____) == "____"
    assert type(____)() is ____, "a single sentinel"
    assert is_placeholder(____)
    assert is_placeholder(["get", ____]) and is_placeholder({"k": ____}) and is_placeholder({____})
    assert not is_placeholder(["get", "list"]) and not is_placeholder(None)


def test_three_outcomes_from_answers() -> None:
    q = Double("q1")
    assert q.check(ANSWER=____).status == NOT_ATTEMPTED
    wrong = q.check(ANSWER=5)
    assert wrong.status == NOT_YET and wrong.message == "`ANSWER` is 5."
    right = q.check(ANSWER=4)
    assert right.correct and right.message == "Four.", "messages start with a capital"
    assert q.last is right and RESULTS[-1] is right


def test_check_reads_the_notebooks_variables() -> None:
    q = Double("q1")
    namespace: dict[str, Any] = {"q1": q}
    exec("result = q1.check()", namespace)  # a notebook cell without ANSWER
    assert namespace["result"].status == NOT_ATTEMPTED
    assert "`ANSWER`" in namespace["result"].message
    namespace["ANSWER"] = 4
    exec("result = q1.check()", namespace)
    assert namespace["result"].status == CORRECT


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("boom\n  with a second line"),
        KeyError("x"),
        ApiException(status=500, reason="Internal Server Error"),
    ],
    ids=["runtime", "key", "api"],
)
def test_check_never_raises(error: Exception) -> None:
    result = Boom("q9", error).check()
    assert result.status == NOT_YET
    assert "could not finish" in result.message and "\n" not in result.message


def test_api_errors_become_their_server_message() -> None:
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": "no, you may not"})
    assert one_sentence(exc) == "403 Forbidden: no, you may not"


def test_keyboard_interrupt_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        Boom("q9", KeyboardInterrupt()).check()


def test_cluster_question_not_attempted() -> None:
    result = Untouched("q2").check()
    assert result == Result("q2", NOT_ATTEMPTED, "Nothing changed in the cluster yet.")


def test_plain_text_outside_jupyter(capsys: pytest.CaptureFixture[str]) -> None:
    Double("q1").check(ANSWER=5)
    assert capsys.readouterr().out == "Not yet: `ANSWER` is 5.\n"


def test_result_is_shown_once(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[str, ...]] = []
    monkeypatch.setattr(checks, "_show", lambda *parts: shown.append(parts))
    result = Double("q1").check(ANSWER=4)
    result._ipython_display_()  # the cell's last value: Jupyter would display it again
    assert len(shown) == 1
    markdown, plain, html = shown[0]
    assert plain == "Correct: Four."
    assert "Correct" in markdown and "<b>" in html


def test_html_escapes_and_formats_code(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[str, ...]] = []
    monkeypatch.setattr(checks, "_show", lambda *parts: shown.append(parts))
    Double("q1").check(ANSWER="<script>")
    html = shown[0][2]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<code>ANSWER</code>" in html


def test_hints_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(checks, "_show", lambda markdown, plain, html=None: shown.append(plain))
    q = Double("q1")
    q.hint()
    q.hint()
    q.hint()
    q.hint(1)
    assert shown == [
        "Hint 1 of 2: Multiply. Call `hint()` again for another.",
        "Hint 2 of 2: It is even.",
        "Hint 2 of 2: It is even.",
        "Hint 1 of 2: Multiply. Call `hint()` again for another.",
    ]


def test_solution_shows_code_and_note(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[str, ...]] = []
    monkeypatch.setattr(checks, "_show", lambda *parts: shown.append(parts))
    Double("q1").solution()
    markdown, plain, _ = shown[0]
    assert "```python\nANSWER = 2 * 2\n```" in markdown
    assert plain.endswith("ANSWER = 2 * 2\n\nArithmetic.")


def test_lab_names_its_questions_and_needs_a_lab_namespace() -> None:
    class Tiny(Lab):
        question_types = (Double, Untouched)

    lab = Tiny(course=None, namespace="lab-99-tiny")
    assert [q.name for q in lab.questions] == ["q1", "q2"]
    assert all(q.lab is lab for q in lab.questions)
    assert lab.names()["NS"] == "lab-99-tiny"
    with pytest.raises(ValueError, match="must start with 'lab-'"):
        Tiny(course=None, namespace="controller-ns")


# -- the RBAC rule evaluator the Role check uses --------------------------------------------
PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}


@pytest.mark.parametrize(
    ("rules", "request_", "allowed"),
    [
        ([PODS], ("list", "pods", "", None), True),
        ([PODS], ("get", "pods", "", "log"), False),
        ([PODS], ("delete", "pods", "", None), False),
        ([PODS], ("list", "pods", "apps", None), False),
        (
            [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}],
            ("get", "pods", "", "log"),
            True,
        ),
        (
            [{"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]}],
            ("get", "pods", "", "log"),
            True,
        ),
        (
            [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
            ("get", "pods", "", "log"),
            True,
        ),
        (
            [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            ("create", "pods", "", "exec"),
            True,
        ),
        ([{**PODS, "resourceNames": ["app"]}], ("list", "pods", "", None), False),
        ([], ("get", "pods", "", None), False),
    ],
)
def test_rules_allow(rules: list[dict[str, Any]], request_: tuple[Any, ...], allowed: bool) -> None:
    verb, resource, group, sub = request_
    assert rules_allow(rules, verb, resource, group, sub) is allowed


def test_rules_allow_reads_client_models() -> None:
    from kubernetes import client

    rule = client.V1PolicyRule(api_groups=[""], resources=["pods/log"], verbs=["get"])
    assert rules_allow([rule], "get", "pods", subresource="log")
    assert action("get", "pods", subresource="log") == "get pods/log"


@pytest.mark.parametrize(
    ("value", "code"), [(401, 401), ("403", 403), ("401 Unauthorized", 401), (" 403 ", 403)]
)
def test_status_codes_the_learner_may_write(value: object, code: int) -> None:
    assert _status_code(value, "X") == code


@pytest.mark.parametrize("value", ["Forbidden", True, None, 4.03])
def test_status_codes_that_are_not(value: object) -> None:
    with pytest.raises(NotYet, match="HTTP status code"):
        _status_code(value, "X")


def test_a_starter_cell_left_as_it_is_shows_nothing() -> None:
    from IPython.core.formatters import DisplayFormatter

    from helpers.labs.checks import ____

    assert DisplayFormatter().format(____) == ({}, {})


# -- settling, Run All and a scenario that is gone ------------------------------------------
def test_settle_asks_again_until_the_answer_holds() -> None:
    calls = []

    def check() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NotYet("RBAC has not seen it yet.")
        return "ok"

    assert checks.settle(check, 5, interval=0) == "ok"
    assert len(calls) == 3


def test_settle_gives_up_with_the_last_message() -> None:
    raised: list[str] = []

    def check() -> None:
        raised.append(f"try {len(raised) + 1}.")
        raise NotYet(raised[-1])

    with pytest.raises(NotYet) as caught:
        checks.settle(check, 0.05, interval=0.01)
    assert len(raised) > 1 and str(caught.value) == raised[-1]


def test_settle_does_not_retry_other_outcomes() -> None:
    calls = []

    def check() -> None:
        calls.append(1)
        raise NotAttempted("nothing yet.")

    with pytest.raises(NotAttempted):
        checks.settle(check, 5, interval=0)
    assert len(calls) == 1


def _request(sent_seconds: float, started: float) -> tuple[Any, float]:
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=sent_seconds), started


@pytest.mark.parametrize(
    ("set_up", "clean_up", "queued"),
    [
        # Run All: both cells sent at once; the clean-up ran 40 s later
        (_request(0.0, 100.0), _request(0.05, 140.0), True),
        # by hand: the clean-up sent 300 s after the set-up, and ran at once
        (_request(0.0, 100.0), _request(300.0, 400.01), False),
        # the clock of the client is an hour off: only differences count
        (_request(3600.0, 100.0), _request(3900.0, 400.2), False),
    ],
    ids=["run-all", "by-hand", "client-clock-off"],
)
def test_a_cell_queued_behind_others(
    set_up: Any, clean_up: Any, queued: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "_cell_request", lambda: clean_up)
    assert checks._queued_behind_others(set_up) is queued


def test_outside_a_notebook_nothing_is_queued() -> None:
    assert checks._cell_request() is None
    assert checks._queued_behind_others(None) is False


class _FakeCore:
    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.namespace_status = 200

    def read_namespace(self, name: str) -> Any:
        from kubernetes import client

        if self.namespace_status != 200:
            raise ApiException(status=self.namespace_status, reason="x")
        return client.V1Namespace(metadata=client.V1ObjectMeta(name=name))


class _FakeCourse:
    def __init__(self) -> None:
        self.core = _FakeCore()
        self.rbac = None  # delete_lab_cluster_bindings is replaced below
        self.deleted: list[str] = []

    def delete_namespace(self, name: str) -> None:
        self.deleted.append(name)


class _Tiny(Lab):
    question_types = (Untouched,)


def _tiny(monkeypatch: pytest.MonkeyPatch) -> tuple[_Tiny, _FakeCourse]:
    monkeypatch.setattr(checks, "delete_lab_cluster_bindings", lambda rbac, ns: [])
    course = _FakeCourse()
    return _Tiny(course, "lab-99-tiny"), course


def test_clean_up_in_run_all_keeps_the_scenario(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab, course = _tiny(monkeypatch)
    monkeypatch.setattr(checks, "_queued_behind_others", lambda earlier: True)
    lab.clean_up()
    assert course.deleted == [] and not lab.cleaned_up
    assert "Run All" in capsys.readouterr().out
    lab.clean_up(now=True)
    assert course.deleted == ["lab-99-tiny"] and lab.cleaned_up


def test_clean_up_run_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    lab, course = _tiny(monkeypatch)
    lab.clean_up()
    assert course.deleted == ["lab-99-tiny"]


@pytest.mark.parametrize(
    ("how", "says"),
    [("clean_up", "you ran `lab.clean_up()`"), ("404", "does not exist")],
)
def test_a_check_says_the_scenario_is_gone(
    how: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, course = _tiny(monkeypatch)
    assert lab.scenario_gone() is None
    if how == "clean_up":
        lab.clean_up()
    else:
        course.core.namespace_status = 404
    (q1,) = lab.questions
    result = q1.check()
    assert result.status == NOT_YET
    assert result.message.startswith("The lab's scenario is gone") and says in result.message
    assert "re-run the lab's first code cell" in result.message and "\n" not in result.message


def test_a_namespace_one_may_not_read_counts_as_there(monkeypatch: pytest.MonkeyPatch) -> None:
    lab, course = _tiny(monkeypatch)
    course.core.namespace_status = 403  # a workshop learner may not read namespaces
    assert lab.scenario_gone() is None
    assert lab.questions[0].check().status == NOT_ATTEMPTED
