"""Unit tests for the lab framework (helpers.checks) and the pure parts of the labs: no cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from helpers import checks
from helpers.checks import (
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

    from helpers.checks import ____

    assert DisplayFormatter().format(____) == ({}, {})
