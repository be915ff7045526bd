"""Lab checks: each question says *Correct*, *Not yet* or *Not attempted*, and never raises.

A lab question is a markdown prompt, a starter cell with the placeholder ``____`` and a
cell with ``q1.check()``. The checker (one small :class:`Question` subclass per question)
inspects the *cluster* — SubjectAccessReview, TokenReview, the objects — and, where the
question asks for a value, the learner's variable. It displays one of three outcomes:

- **Correct** — with a sentence on why it matters;
- **Not yet** — what is wrong, in the learner's terms, without giving the answer away;
- **Not attempted** — the placeholder is still there (or the cluster is untouched).

``check()`` catches everything: an unexpected error becomes *Not yet* with one sentence,
so an unanswered lab runs cleanly from top to bottom. The outcome is also returned as a
:class:`Result` and recorded in :data:`RESULTS`, which the tests read.

The API server answers a change a moment late (RBAC about a second, a cached token
authentication up to 10 s): a checker asks again for a short while with :func:`settle`
before it says *Not yet*. A check whose scenario is gone (cleaned up, namespace deleted)
says so and how to get it back; :meth:`Lab.clean_up` does nothing during *Run All*.

Example:
    >>> class Double(Question):
    ...     variables = ("ANSWER",)
    ...     hints = ("Two times two.",)
    ...     solution_code = "ANSWER = 2 * 2"
    ...     def evaluate(self, ANSWER):
    ...         if ANSWER != 4:
    ...             raise NotYet(f"`ANSWER` is {ANSWER!r}; multiply again.")
    ...         return "Two times two is four."
    >>> q = Double("q1")
    >>> q.check(ANSWER=____)
    Not attempted: Set `ANSWER` (replace ____ with your answer) and run the check again.
    Result(q1, Not attempted)
    >>> q.check(ANSWER=5).status
    Not yet: `ANSWER` is 5; multiply again.
    'Not yet'
    >>> q.check(ANSWER=4).correct
    Correct: Two times two is four.
    True
"""

from __future__ import annotations

import html
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from kubernetes.client.exceptions import ApiException

from ..bindings import delete_lab_cluster_bindings
from ..cluster.waiting import get_or_none
from ..errors import CourseApiError, from_api_exception
from . import progress

__all__ = [
    "CORRECT",
    "NOT_ATTEMPTED",
    "NOT_YET",
    "RESULTS",
    "Lab",
    "NotAttempted",
    "NotYet",
    "Question",
    "Result",
    "Status",
    "____",
    "is_placeholder",
    "one_sentence",
    "run_checks",
    "settle",
]

Status = Literal["Correct", "Not yet", "Not attempted"]
CORRECT: Status = "Correct"
NOT_YET: Status = "Not yet"
NOT_ATTEMPTED: Status = "Not attempted"

_COLOURS = {CORRECT: "#2e7d32", NOT_YET: "#c62828", NOT_ATTEMPTED: "#1565c0"}
_SYMBOLS = {CORRECT: "✔", NOT_YET: "✘", NOT_ATTEMPTED: "…"}


class _Placeholder:
    """The blank a learner fills in. Only ``repr`` works; it is never a valid answer."""

    _instance: ClassVar[_Placeholder | None] = None

    def __new__(cls) -> _Placeholder:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "____"

    def __reduce__(self) -> str:
        return "____"

    def _ipython_display_(self) -> None:
        """A starter cell left as it is shows nothing (not the placeholder echoed back)."""


#: The placeholder of every starter cell: ``ROLE_VERBS = ____`` runs, and the check says
#: *Not attempted* until the learner replaces it.
____ = _Placeholder()


def is_placeholder(value: object) -> bool:
    """True if ``value`` is ``____`` or a list, tuple, set or dict that still contains it.

    >>> is_placeholder(____), is_placeholder({"get", ____}), is_placeholder(["get"])
    (True, True, False)
    """
    if value is ____:
        return True
    if isinstance(value, Mapping):
        return any(is_placeholder(k) or is_placeholder(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(is_placeholder(v) for v in value)
    return False


class NotYet(Exception):
    """Raised by a checker: the answer is wrong; the message says what, not the answer."""


class NotAttempted(Exception):
    """Raised by a checker: nothing to check yet (placeholder, or the cluster is untouched)."""


class CannotJudge(NotAttempted):
    """This cluster cannot judge the lab at all (:meth:`Lab.unavailable`): shown as *Not
    attempted* with the reason, and not recorded on a workshop's board."""


def one_sentence(exc: BaseException) -> str:
    """One plain line for an unexpected error (API errors become their server message).

    >>> one_sentence(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    if isinstance(exc, ApiException):
        exc = from_api_exception(exc)
    if isinstance(exc, CourseApiError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "…"


def _sentence(text: str) -> str:
    """Capitalise the first letter, so messages read as sentences after "Not yet:".

    >>> _sentence("the token is rejected."), _sentence("`x` is wrong.")
    ('The token is rejected.', '`x` is wrong.')
    """
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _markdown_to_html(text: str) -> str:
    """The little markdown our messages use (`code`, **bold**) as safe HTML."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _show(markdown: str, plain: str, html_text: str | None = None) -> None:
    """Display rich output in Jupyter, plain text anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            bundle = {"text/markdown": markdown, "text/plain": plain}
            if html_text is not None:
                bundle["text/html"] = html_text
            display(bundle, raw=True)
            return
    except ImportError:  # pragma: no cover - IPython is a dependency of the course
        pass
    print(plain)


@dataclass
class Result:
    """The outcome of one check: ``status`` is Correct, Not yet or Not attempted."""

    question: str
    status: Status
    message: str
    _shown: bool = field(default=False, repr=False, compare=False)

    @property
    def correct(self) -> bool:
        """True for *Correct*."""
        return self.status == CORRECT

    def as_dict(self) -> dict[str, str]:
        """``{"question": …, "status": …, "message": …}`` (what the tests read)."""
        return {"question": self.question, "status": self.status, "message": self.message}

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status

    def __repr__(self) -> str:
        return f"Result({self.question}, {self.status})"

    def _markdown(self) -> str:
        colour = _COLOURS[self.status]
        label = f'<span style="color:{colour}"><b>{_SYMBOLS[self.status]} {self.status}</b></span>'
        return f"{label}: {self.message}" if self.message else label

    def _html(self) -> str:
        colour = _COLOURS[self.status]
        label = f'<span style="color:{colour}"><b>{_SYMBOLS[self.status]} {self.status}</b></span>'
        body = _markdown_to_html(self.message)
        return f"<p>{label}: {body}</p>" if self.message else f"<p>{label}</p>"

    def show(self) -> None:
        """Display this result (coloured in Jupyter, plain text elsewhere)."""
        self._shown = True
        _show(self._markdown(), str(self), self._html())

    def _ipython_display_(self) -> None:
        # check() has shown it already; being the cell's last value must not show it twice.
        if not self._shown:
            self.show()


#: Every result shown in this Python process, in order (the solved-lab tests read it).
RESULTS: list[Result] = []


class Question:
    """One lab question. Subclasses set the class attributes and implement :meth:`evaluate`.

    Attributes:
        title: What the question is about, in a few words (shown by :meth:`hint`).
        variables: Names of the learner's variables the check reads (none for questions
            about the cluster only).
        hints: Hints, shown one more per :meth:`hint` call.
        solution_code: Executable code that answers the question: Python, or a
            ``%%bash`` cell. The solved-lab test runs it in place of the starter cell.
        solution_note: A sentence shown after the solution code.
    """

    title: ClassVar[str] = ""
    variables: ClassVar[tuple[str, ...]] = ()
    hints: ClassVar[tuple[str, ...]] = ()
    solution_code: ClassVar[str] = ""
    solution_note: ClassVar[str] = ""

    def __init__(self, name: str, lab: Lab | None = None) -> None:
        self.name = name
        self.lab = lab
        self.last: Result | None = None
        self._hints_shown = 0

    # -- what subclasses implement ---------------------------------------------------------
    def evaluate(self, **answers: Any) -> str | None:
        """Inspect the cluster (and ``answers``); return a message for *Correct*.

        Raise :class:`NotYet` or :class:`NotAttempted` with a message otherwise.
        """
        raise NotImplementedError

    # -- what learners call ----------------------------------------------------------------
    def check(self, **answers: Any) -> Result:
        """Check the answer and display the outcome; never raises.

        Without arguments the question's :attr:`variables` are read from the notebook
        (the caller's globals); tests pass them as keyword arguments instead.
        """
        caller = sys._getframe(1).f_globals if not answers else {}
        judged_nowhere = False
        try:
            gone = self.lab.scenario_gone() if self.lab is not None else None
            if gone:
                raise NotYet(gone)
            values = self._collect(answers or caller)
            why = self.lab.unavailable() if self.lab is not None else ""
            if why:
                raise CannotJudge(f"this lab cannot be judged on this cluster: {why}")
            message = self.evaluate(**values)
            result = Result(self.name, CORRECT, message or "")
        except NotAttempted as exc:
            result = Result(self.name, NOT_ATTEMPTED, str(exc))
            judged_nowhere = isinstance(exc, CannotJudge)
        except NotYet as exc:
            result = Result(self.name, NOT_YET, str(exc))
        except Exception as exc:  # a check must never raise in a learner's notebook
            gone = self.lab.scenario_gone() if self.lab is not None else None
            result = Result(
                self.name,
                NOT_YET,
                gone
                or f"the check could not finish ({one_sentence(exc)}). Fix that, or run the "
                "lab's set-up cell again, then re-run the check.",
            )
        result.message = _sentence(result.message)
        self.last = result
        RESULTS.append(result)
        if self.lab is not None and not judged_nowhere:
            # in a workshop, for the instructor's board (never the answer); a lab this
            # cluster cannot judge leaves the board alone
            progress.record(self.lab.course, type(self.lab).__module__, self.name, result.status)
        result.show()
        return result

    def hint(self, n: int | None = None) -> None:
        """Show the next hint (or hint ``n``, counting from 1)."""
        if not self.hints:
            _show("No hint for this one.", "No hint for this one.")
            return
        if n is None:
            self._hints_shown = min(self._hints_shown + 1, len(self.hints))
            n = self._hints_shown
        n = max(1, min(n, len(self.hints)))
        more = " Call `hint()` again for another." if n < len(self.hints) else ""
        head = f"Hint {n} of {len(self.hints)}" if len(self.hints) > 1 else "Hint"
        text = f"**{head}:** {self.hints[n - 1]}{more}"
        _show(
            text,
            text.replace("**", ""),
            f'<p><span style="color:#6a1b9a">{_markdown_to_html(text)}</span></p>',
        )

    def solution(self) -> None:
        """Show the solution code (and a note on it)."""
        code = textwrap.dedent(self.solution_code).strip()
        lang = "bash" if code.startswith("%%bash") else "python"
        note = f"\n\n{self.solution_note}" if self.solution_note else ""
        markdown = f"**Solution:**\n\n```{lang}\n{code}\n```{note}"
        plain = f"Solution:\n\n{code}{note}"
        note_html = f"<p>{_markdown_to_html(self.solution_note)}</p>" if self.solution_note else ""
        _show(
            markdown,
            plain,
            f"<p><b>Solution:</b></p><pre><code>{html.escape(code)}</code></pre>{note_html}",
        )

    # -- plumbing ----------------------------------------------------------------------------
    def _collect(self, source: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        missing = []
        for name in self.variables:
            if name not in source or is_placeholder(source[name]):
                missing.append(name)
            else:
                values[name] = source[name]
        if missing:
            names = " and ".join(f"`{n}`" for n in missing)
            raise NotAttempted(
                f"set {names} (replace ____ with your answer) and run the check again."
            )
        return values

    def __repr__(self) -> str:
        return f"<{self.name}: {self.title or type(self).__name__}>"


class Lab:
    """A lab's scenario: its namespace, its questions and how to clean up.

    Lab modules subclass it: ``set_up()`` seeds the scenario, ``clean_up()`` removes it,
    ``questions`` lists the :class:`Question` objects in order (``q1, q2, … = lab.questions``).
    """

    #: The question classes, in order; instances are named q1, q2, …
    question_types: ClassVar[tuple[type[Question], ...]] = ()

    def __init__(self, course: Any, namespace: str) -> None:
        if not re.match(r"^(?:[a-z0-9-]+-)?lab-", namespace):  # a learner's prefix may come first
            raise ValueError(
                f"A lab's namespace must start with 'lab-' (after your prefix), not {namespace!r}."
            )
        self.course = course
        self.namespace = namespace
        self.questions: list[Question] = [
            cls(f"q{i}", self) for i, cls in enumerate(self.question_types, start=1)
        ]
        self.cleaned_up = False
        # when the set-up cell was sent and when it ran (see clean_up)
        self._set_up_request = _cell_request()

    def set_up(self) -> Lab:
        """Create the scenario (override); returns the lab for chaining."""
        return self

    @classmethod
    def unavailable_on(cls, backend: str) -> str:
        """Why a cluster of ``backend`` cannot judge this lab ('' where it can: most labs)."""
        return ""

    @classmethod
    def unavailable_in_workshop(cls) -> str:
        """Why a workshop learner's checks cannot judge this lab ('' where they can)."""
        return cls.unavailable_on("kubeconfig")

    def unavailable(self) -> str:
        """Why this lab's cluster cannot judge it ('' where it can)."""
        backend = getattr(self.course, "backend", "")
        return type(self).unavailable_on(backend) if backend else ""

    def fresh(self) -> None:
        """Start from nothing: a new, empty namespace and no ClusterRoleBindings left over.

        A ClusterRoleBinding from an earlier run names the lab's accounts by namespace and
        name, so it would grant the new accounts of the same names the same rights.
        """
        delete_lab_cluster_bindings(self.course.rbac, self.namespace)
        self.course.fresh_namespace(self.namespace)
        self.cleaned_up = False

    def clean_up(self, *, now: bool = False) -> None:
        """Delete the lab's namespace, and ClusterRoleBindings that bind only its accounts.

        In a notebook, a clean-up cell that was queued behind the cells above it (*Run All*)
        does nothing and says so: it would delete the scenario the learner's answers need.
        Run on its own, or with ``now=True``, it cleans up.
        """
        if not now and _queued_behind_others(self._set_up_request):
            text = (
                "**Not cleaned up:** this cell ran as part of *Run All*, so the lab keeps its "
                "scenario for your answers. When you are done, run this cell on its own."
            )
            _show(text, text.replace("**", "").replace("*", ""))
            return
        delete_lab_cluster_bindings(self.course.rbac, self.namespace)
        self.course.delete_namespace(self.namespace)
        self.cleaned_up = True

    def scenario_gone(self) -> str | None:
        """Why the scenario is gone, in one sentence with the way back; ``None`` if it is there.

        Gone means cleaned up by this lab, or its namespace deleted (or being deleted).
        """
        where = f"namespace `{self.namespace}`"
        again = "re-run the lab's first code cell (the set-up) to create it again"
        if self.cleaned_up:
            return f"the lab's scenario is gone (you ran `lab.clean_up()`): {again}."
        if self.course is None:
            return None
        course = self.course
        try:
            namespace = get_or_none(lambda: course.core.read_namespace(self.namespace))
        except Exception:
            return None  # e.g. a workshop learner may not read namespaces: assume it is there
        if namespace is None:
            return f"the lab's scenario is gone ({where} does not exist): {again}."
        if namespace.metadata.deletion_timestamp is not None:
            return f"the lab's scenario is gone ({where} is being deleted): {again}."
        return None

    def names(self) -> dict[str, Any]:
        """The names the lab's set-up cell defines (the tests run solutions with them)."""
        return {"course": self.course, "NS": self.namespace, "lab": self}

    def __iter__(self) -> Iterable[Question]:
        return iter(self.questions)


#: A cell's request: when the client sent it (its clock) and when it began to run (ours).
_Request = tuple[datetime, float]


def _cell_request() -> _Request | None:
    """When the running notebook cell was sent and when it started here; ``None`` outside one.

    The date is the client's (the ``date`` of the execute request's header); the start is
    this process's monotonic clock, so only differences between two requests mean anything.
    """
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        sent = kernel.get_parent()["header"]["date"] if kernel is not None else None
    except Exception:
        return None
    return (sent, time.monotonic()) if isinstance(sent, datetime) else None


def _queued_behind_others(earlier: _Request | None, *, slack: float = 1.0) -> bool:
    """True if the running cell waited in the kernel's queue for other cells.

    Compared with an ``earlier`` cell that ran as soon as it was sent: the time between the
    two starts minus the time between the two sends is how much longer this cell waited.
    The clocks' offset cancels out. *Run All* sends every cell at once, so the last one waits
    for all the others; a cell run by hand waits for nothing.
    """
    now = _cell_request()
    if earlier is None or now is None:
        return False
    (sent_then, start_then), (sent_now, start_now) = earlier, now
    return (start_now - start_then) - (sent_now - sent_then).total_seconds() > slack


T = TypeVar("T")


def settle(
    check: Callable[[], T],
    seconds: float,
    *,
    interval: float = 0.25,
    retry: tuple[type[Exception], ...] = (NotYet,),
) -> T:
    """Run ``check`` until it raises no :class:`NotYet`, for at most ``seconds``; its result.

    The API server answers a change a moment late: RBAC's authorizer reads bindings from
    informers (about a second behind), and it caches a successful token authentication for
    up to 10 s. A check that reads either right after the learner's change asks again for a
    short while before it says *Not yet*; a right answer passes at the first try. The last
    :class:`NotYet` is raised when time is up. ``retry=(NotYet, NotAttempted)`` also asks
    again when the cluster still looks untouched (a change made a moment ago not yet seen).

    >>> answers = iter([NotYet("not yet."), "ok"])
    >>> def check():
    ...     answer = next(answers)
    ...     if isinstance(answer, NotYet):
    ...         raise answer
    ...     return answer
    >>> settle(check, 1, interval=0)
    'ok'
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except retry:
            if time.monotonic() + interval > deadline:
                raise
        time.sleep(interval)


def run_checks(checks: Iterable[Callable[[], None]]) -> list[str]:
    """Run several small checks; collect the :class:`NotYet` messages instead of stopping.

    >>> def ok(): pass
    >>> def bad(): raise NotYet("bad.")
    >>> run_checks([ok, bad, bad])
    ['bad.', 'bad.']
    """
    problems = []
    for check in checks:
        try:
            check()
        except NotYet as exc:
            problems.append(str(exc))
    return problems
