"""API errors a learner can read: the refusal *is* the lesson.

The official client raises :class:`kubernetes.client.exceptions.ApiException`, whose text
dumps HTTP headers and the raw response body. This module turns it into a tiny hierarchy
with one plain line per error, chosen by the HTTP status:

- 401 :class:`Unauthenticated`: the credential (token) was not accepted at all.
- 403 :class:`Forbidden`: authenticated, but RBAC does not allow the request.
- 404 :class:`NotFound`: the object does not exist (or the path is wrong).
- 409 :class:`Conflict`: the object already exists or was changed meanwhile.
- 400 and 422 :class:`Invalid`: the request or object was rejected as malformed.

Notebook cells that *should* be refused use :func:`expect_forbidden` and friends, so a
refusal prints one line and an unexpected success fails the cell loudly.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ContextDecorator, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, ParamSpec, TypeVar, overload

from kubernetes.client.exceptions import ApiException

from .display import fold

__all__ = [
    "Conflict",
    "CourseApiError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Refusal",
    "Unauthenticated",
    "expect_error",
    "expect_forbidden",
    "expect_not_found",
    "expect_unauthenticated",
    "from_api_exception",
    "translate_api_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

# Anything shaped like a JWT (base64url header starting with '{"', two dots) is masked
# before it can reach a message, just in case a server message ever echoes one.
_JWT_LIKE = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
_TOKEN_PLACEHOLDER = "<token redacted>"


class CourseApiError(Exception):
    """The API server refused a request; ``str(err)`` is one plain line.

    Attributes:
        status: HTTP status code, e.g. ``403`` (``0`` if the client got no response).
        reason: The Kubernetes Status ``reason``, e.g. ``"Forbidden"``.
        message: The server's one-line explanation (Status ``message``).
    """

    statuses: ClassVar[tuple[int, ...]] = ()
    label: ClassVar[str] = "an error"

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        head = f"{self.status} {self.reason}".strip()
        if not self.message or self.message == self.reason:
            return head
        return f"{head}: {self.message}"

    def _render_traceback_(self) -> list[str]:
        """IPython hook: a notebook shows the refusal in one line, not a client traceback."""
        return [f"{type(self).__name__}: {self}"]


class Unauthenticated(CourseApiError):
    """401 "who are you?": the credential was missing, expired or not accepted."""

    statuses = (401,)
    label = "401 Unauthorized"


class Forbidden(CourseApiError):
    """403: the server knows who you are, but RBAC does not allow this request."""

    statuses = (403,)
    label = "403 Forbidden"


class NotFound(CourseApiError):
    """404: no such object in that namespace (or no such resource type)."""

    statuses = (404,)
    label = "404 Not Found"


class Conflict(CourseApiError):
    """409: the object already exists, or someone changed it since you read it."""

    statuses = (409,)
    label = "409 Conflict"


class Invalid(CourseApiError):
    """400/422: the server rejected the request or object itself as malformed."""

    statuses = (400, 422)
    label = "400 Bad Request or 422 Invalid"


_BY_STATUS: dict[int, type[CourseApiError]] = {
    status: cls
    for cls in (Unauthenticated, Forbidden, NotFound, Conflict, Invalid)
    for status in cls.statuses
}


def _one_line(text: str) -> str:
    """Collapse whitespace to single spaces and mask anything that looks like a JWT."""
    return _JWT_LIKE.sub(_TOKEN_PLACEHOLDER, " ".join(text.split()))


def _status_body(body: Any) -> dict[str, Any]:
    """Parse a Kubernetes Status object from a response body; ``{}`` if it is not one."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def from_api_exception(exc: ApiException) -> CourseApiError:
    """Translate the client's ``ApiException`` into the matching :class:`CourseApiError`.

    Only the Status ``reason`` and ``message`` are kept; headers and the raw body are
    dropped, so the result is safe to print. Unknown statuses give the base class.

    Args:
        exc: The exception raised by the official ``kubernetes`` client.

    Returns:
        An instance of the subclass for ``exc.status`` (not raised).

    Example:
        >>> import json
        >>> exc = ApiException(status=404, reason="Not Found")
        >>> exc.body = json.dumps({"kind": "Status", "status": "Failure", "code": 404,
        ...     "reason": "NotFound", "message": 'serviceaccounts "ghost" not found'})
        >>> err = from_api_exception(exc)
        >>> type(err).__name__, str(err)
        ('NotFound', '404 NotFound: serviceaccounts "ghost" not found')
    """
    status = int(exc.status or 0)
    status_obj = _status_body(exc.body)
    http_reason = _one_line(str(exc.reason or ""))
    reason = status_obj.get("reason")
    reason = _one_line(reason) if isinstance(reason, str) and reason.strip() else http_reason
    message = status_obj.get("message")
    message = _one_line(message) if isinstance(message, str) and message.strip() else http_reason
    cls = _BY_STATUS.get(status, CourseApiError)
    return cls(status, reason, message)


class _TranslateApiErrors(ContextDecorator):
    """Context manager and decorator behind :func:`translate_api_errors`."""

    def __enter__(self) -> _TranslateApiErrors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, ApiException):
            raise from_api_exception(exc) from exc


@overload
def translate_api_errors(func: None = None) -> _TranslateApiErrors: ...
@overload
def translate_api_errors(func: Callable[P, R]) -> Callable[P, R]: ...
def translate_api_errors(
    func: Callable[P, R] | None = None,
) -> _TranslateApiErrors | Callable[P, R]:
    """Re-raise any ``ApiException`` as the matching :class:`CourseApiError`.

    Works as ``with translate_api_errors():``, as ``@translate_api_errors()`` and as
    ``@translate_api_errors``. The original exception stays available as ``__cause__``.

    Args:
        func: The function to wrap when used as a bare decorator.

    Returns:
        A context manager/decorator, or the wrapped function.

    Example:
        >>> @translate_api_errors
        ... def read_secret():
        ...     raise ApiException(status=403, reason="Forbidden")
        >>> read_secret()
        Traceback (most recent call last):
        ...
        helpers.errors.Forbidden: 403 Forbidden
    """
    if func is None:
        return _TranslateApiErrors()

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _TranslateApiErrors():
            return func(*args, **kwargs)

    return wrapper


@dataclass
class Refusal:
    """What an ``expect_*`` block caught.

    Attributes:
        expected: The error class the block was expected to raise.
        error: The caught error, set when the block ends (``None`` inside the block).
    """

    expected: type[CourseApiError]
    error: CourseApiError | None = None


def _expected_phrase(cls: type[CourseApiError]) -> str:
    """``"with 403 Forbidden"`` for a subclass, ``""`` for the catch-all base class."""
    return "" if cls is CourseApiError else f" with {cls.label}"


@contextmanager
def expect_error(cls: type[CourseApiError]) -> Iterator[Refusal]:
    """Assert that the block is refused by the API server with ``cls``.

    Raw ``ApiException`` errors inside the block are translated first. On success one
    line is printed and the error is kept on the yielded :class:`Refusal`.

    Args:
        cls: The expected :class:`CourseApiError` subclass (the base class accepts any).

    Yields:
        A :class:`Refusal` whose ``error`` is set after the block.

    Raises:
        AssertionError: If the block succeeded, or was refused with another error.

    Example:
        >>> with expect_error(NotFound) as refusal:
        ...     raise ApiException(status=404, reason="Not Found")
        Refused as expected: 404 Not Found
        >>> refusal.error.status
        404
    """
    refusal = Refusal(expected=cls)
    try:
        yield refusal
    except (ApiException, CourseApiError) as exc:
        if isinstance(exc, ApiException):
            error = from_api_exception(exc)
            error.__cause__ = exc
        else:
            error = exc
        if not isinstance(error, cls):
            raise AssertionError(
                f"Expected the API server to refuse this request{_expected_phrase(cls)}, "
                f"but it answered {str(error).rstrip('.')}."
            ) from error
        refusal.error = error
        print(fold(f"Refused as expected: {error}"))  # a long server message wraps between words
    else:
        raise AssertionError(
            f"Expected the API server to refuse this request{_expected_phrase(cls)}, "
            "but it was allowed."
        )


def expect_forbidden() -> AbstractContextManager[Refusal]:
    """Assert that the block is refused with 403 Forbidden (RBAC said no).

    Example:
        >>> with expect_forbidden():
        ...     pass
        Traceback (most recent call last):
        ...
        AssertionError: Expected the API server to refuse this request with 403 Forbidden, \
but it was allowed.
    """
    return expect_error(Forbidden)


def expect_unauthenticated() -> AbstractContextManager[Refusal]:
    """Assert that the block is refused with 401 (the token was not accepted)."""
    return expect_error(Unauthenticated)


def expect_not_found() -> AbstractContextManager[Refusal]:
    """Assert that the block is refused with 404 Not Found."""
    return expect_error(NotFound)
