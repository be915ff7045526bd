"""Unit tests for helpers.errors: real ApiException objects, no cluster."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException, ForbiddenException

from helpers.display import OUTPUT_COLUMNS
from helpers.errors import (
    Conflict,
    CourseApiError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
    expect_error,
    expect_forbidden,
    expect_not_found,
    expect_unauthenticated,
    from_api_exception,
    translate_api_errors,
)

FORBIDDEN_MESSAGE = (
    'serviceaccounts "x" is forbidden: User "system:serviceaccount:controller-ns:'
    'controller-svc" cannot get resource "serviceaccounts" in API group "" in the '
    'namespace "kube-system"'
)
# Shaped like a ServiceAccount token; must never reach str(err).
# (Joined at run time, so no token-shaped literal sits in the repository.)
TOKEN_LIKE = ".".join(
    ["eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0", "eyJzdWIiOiJzeXN0ZW06c2EifQ", "c2lnbmF0dXJlLXNlY3JldA"]
)

HTTP_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def api_exception(
    status: int,
    reason: str | None = None,
    message: str | None = None,
    *,
    body: str | None = None,
    **extra: Any,
) -> ApiException:
    """An ApiException as the client raises it, with a Kubernetes Status JSON body."""
    exc = ApiException(status=status, reason=HTTP_PHRASES.get(status, "Unknown"))
    if body is None and (reason or message):
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": status,
                **extra,
            }
        )
    exc.body = body
    exc.headers = {"Content-Type": "application/json", "Audit-Id": "1234"}
    return exc


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, Invalid),
        (401, Unauthenticated),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (422, Invalid),
        (429, CourseApiError),
        (500, CourseApiError),
    ],
)
def test_classification_by_status(status: int, cls: type[CourseApiError]) -> None:
    err = from_api_exception(api_exception(status))
    assert type(err) is cls
    assert isinstance(err, CourseApiError)
    assert err.status == status


def test_forbidden_message_is_one_plain_line() -> None:
    err = from_api_exception(api_exception(403, "Forbidden", FORBIDDEN_MESSAGE))
    assert (err.status, err.reason, err.message) == (403, "Forbidden", FORBIDDEN_MESSAGE)
    assert str(err) == f"403 Forbidden: {FORBIDDEN_MESSAGE}"
    assert "\n" not in str(err)


def test_unauthorized_does_not_repeat_itself() -> None:
    err = from_api_exception(api_exception(401, "Unauthorized", "Unauthorized"))
    assert isinstance(err, Unauthenticated)
    assert str(err) == "401 Unauthorized"


def test_invalid_uses_status_reason_not_http_phrase() -> None:
    message = 'ServiceAccount "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
    err = from_api_exception(api_exception(422, "Invalid", message))
    assert isinstance(err, Invalid)
    assert str(err) == f"422 Invalid: {message}"


@pytest.mark.parametrize("body", [None, "", "<html>502 Bad Gateway</html>", "[1, 2]", "null"])
def test_falls_back_to_http_reason_phrase(body: str | None) -> None:
    exc = api_exception(404)
    exc.body = body
    err = from_api_exception(exc)
    assert (err.reason, err.message) == ("Not Found", "Not Found")
    assert str(err) == "404 Not Found"


def test_bytes_body_is_parsed() -> None:
    exc = api_exception(409)
    exc.body = json.dumps({"reason": "AlreadyExists", "message": "already exists"}).encode()
    assert str(from_api_exception(exc)) == "409 AlreadyExists: already exists"


def test_client_subclasses_are_translated() -> None:
    exc = ForbiddenException(status=403, reason="Forbidden")
    assert isinstance(from_api_exception(exc), Forbidden)


def test_missing_status_gives_base_class() -> None:
    err = from_api_exception(ApiException(reason="Connection refused"))
    assert type(err) is CourseApiError
    assert str(err) == "0 Connection refused"


def test_no_token_or_header_leaks_from_the_body() -> None:
    exc = api_exception(
        401,
        "Unauthorized",
        "Unauthorized",
        details={"causes": [{"message": f"token {TOKEN_LIKE} rejected"}]},
    )
    exc.headers = {"Authorization": f"Bearer {TOKEN_LIKE}"}
    err = from_api_exception(exc)
    for text in (str(err), repr(err), " ".join(map(str, err.args))):
        assert TOKEN_LIKE not in text
        assert "c2lnbmF0dXJl" not in text  # the signature part
        assert "Bearer" not in text
        assert "Audit-Id" not in text


def test_token_echoed_in_message_is_redacted_and_collapsed() -> None:
    exc = api_exception(400, "BadRequest", f"bad\n  token:\t{TOKEN_LIKE}")
    err = from_api_exception(exc)
    assert str(err) == "400 BadRequest: bad token: <token redacted>"


def test_errors_pickle() -> None:
    err = from_api_exception(api_exception(403, "Forbidden", FORBIDDEN_MESSAGE))
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is Forbidden
    assert str(copy) == str(err)


def test_translate_as_context_manager_keeps_cause() -> None:
    original = api_exception(403, "Forbidden", FORBIDDEN_MESSAGE)
    with pytest.raises(Forbidden) as info, translate_api_errors():
        raise original
    assert info.value.__cause__ is original
    assert str(info.value) == f"403 Forbidden: {FORBIDDEN_MESSAGE}"


def test_translate_leaves_other_exceptions_and_success_alone() -> None:
    with pytest.raises(KeyError), translate_api_errors():
        raise KeyError("x")
    with translate_api_errors():
        value = 42
    assert value == 42


@pytest.mark.parametrize("with_parens", [True, False])
def test_translate_as_decorator(with_parens: bool) -> None:
    decorator = translate_api_errors() if with_parens else translate_api_errors

    @decorator
    def read(name: str, *, fail: bool) -> str:
        """Read something."""
        if fail:
            raise api_exception(404, "NotFound", f'serviceaccounts "{name}" not found')
        return name

    assert read("a", fail=False) == "a"
    with pytest.raises(NotFound, match='serviceaccounts "ghost" not found') as info:
        read("ghost", fail=True)
    assert isinstance(info.value.__cause__, ApiException)
    if not with_parens:
        assert read.__name__ == "read"
        assert read.__doc__ == "Read something."


def test_expect_forbidden_passes_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with expect_forbidden() as refusal:
        assert refusal.error is None
        raise api_exception(403, "Forbidden", FORBIDDEN_MESSAGE)
    assert isinstance(refusal.error, Forbidden)
    assert refusal.expected is Forbidden
    out = capsys.readouterr().out
    # the whole message, its long line wrapped between words (JupyterLab would break it mid-word)
    assert " ".join(out.split()) == f"Refused as expected: 403 Forbidden: {FORBIDDEN_MESSAGE}"
    assert out.endswith("\n") and max(map(len, out.splitlines())) <= OUTPUT_COLUMNS


def test_expect_forbidden_accepts_already_translated_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @translate_api_errors
    def call() -> None:
        raise api_exception(403, "Forbidden", FORBIDDEN_MESSAGE)

    with expect_forbidden() as refusal:
        call()
    assert isinstance(refusal.error, Forbidden)
    assert capsys.readouterr().out.startswith("Refused as expected: 403 Forbidden")


def test_expect_forbidden_fails_when_allowed() -> None:
    with pytest.raises(AssertionError) as info, expect_forbidden():
        pass
    assert str(info.value) == (
        "Expected the API server to refuse this request with 403 Forbidden, but it was allowed."
    )


def test_expect_forbidden_fails_on_a_different_error(capsys: pytest.CaptureFixture[str]) -> None:
    original = api_exception(401, "Unauthorized", "Unauthorized")
    with pytest.raises(AssertionError) as info, expect_forbidden():
        raise original
    message = str(info.value)
    assert "403 Forbidden" in message
    assert "401 Unauthorized" in message
    assert message == (
        "Expected the API server to refuse this request with 403 Forbidden, "
        "but it answered 401 Unauthorized."
    )
    cause = info.value.__cause__
    assert isinstance(cause, Unauthenticated)
    assert cause.__cause__ is original
    assert capsys.readouterr().out == ""


def test_expect_helpers_match_their_status(capsys: pytest.CaptureFixture[str]) -> None:
    with expect_unauthenticated() as refusal:
        raise api_exception(401, "Unauthorized", "Unauthorized")
    assert isinstance(refusal.error, Unauthenticated)
    with expect_not_found() as refusal:
        raise api_exception(404, "NotFound", 'secrets "x" not found')
    assert isinstance(refusal.error, NotFound)
    assert capsys.readouterr().out.splitlines() == [
        "Refused as expected: 401 Unauthorized",
        'Refused as expected: 404 NotFound: secrets "x" not found',
    ]


@pytest.mark.parametrize("status", [400, 422])
def test_expect_invalid_accepts_both_statuses(status: int) -> None:
    with expect_error(Invalid) as refusal:
        raise api_exception(status)
    assert refusal.error is not None
    assert refusal.error.status == status


def test_expect_base_class_accepts_any_refusal() -> None:
    with expect_error(CourseApiError) as refusal:
        raise api_exception(500)
    assert type(refusal.error) is CourseApiError
    allowed = r"^Expected the API server to refuse this request, but it was allowed\.$"
    with pytest.raises(AssertionError, match=allowed), expect_error(CourseApiError):
        pass


def test_expect_lets_unrelated_exceptions_through() -> None:
    with pytest.raises(ZeroDivisionError), expect_forbidden():
        1 / 0  # noqa: B018


def test_a_notebook_shows_the_refusal_in_one_line() -> None:
    err = Forbidden(
        403, "Forbidden", 'secrets is forbidden: User "x" cannot list resource "secrets"'
    )
    assert err._render_traceback_() == [
        'Forbidden: 403 Forbidden: secrets is forbidden: User "x" cannot list resource "secrets"'
    ]


def test_a_request_that_hangs_is_one_sentence_not_a_hang() -> None:
    """Every course API client gives up (REQUEST_TIMEOUT) and says which server did not answer."""
    import socket
    import threading

    from kubernetes import client

    from helpers.cluster.errors import ClusterError
    from helpers.course import with_timeouts

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    api = with_timeouts(client.ApiClient(cfg), timeout=(1.0, 0.5))
    assert with_timeouts(api) is api, "wrapping twice is a no-op"
    with pytest.raises(ClusterError, match=rf"127.0.0.1:{port} did not answer within"):
        client.VersionApi(api).get_code()
    listener.close()
