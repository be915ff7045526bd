"""Workloads that call the API server from inside their Pod, the way real ones do.

A workload Pod runs the course's tools image and its ``call-api`` command: every few
seconds it sends one GET per path to the API server exactly as an in-cluster client
library does — at ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, trusting
the mounted ``ca.crt``, with the mounted token (read afresh for every request: the
kubelet replaces it) as a Bearer credential — and logs one line per request::

    2026-12-01T21:50:00Z GET /api/v1/namespaces/lab-07-diag/configmaps 403 configmaps is …

So what a workload achieved is in *its own* log, not in a guess made from outside:
:func:`api_calls` reads them, :func:`wait_for_call` waits for the one you expect.

    >>> pod = api_caller("reporter", "reporter", ["/api/v1/namespaces/x/configmaps"])
    >>> pod["spec"]["containers"][0]["command"]
    ['call-api', '/api/v1/namespaces/x/configmaps']
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .cluster.config import TOOLS_IMAGE
from .cluster.errors import ClusterError
from .cluster.waiting import poll_until
from .pods import TOKEN_DIR, exec_in_pod

__all__ = [
    "CALL_API",
    "OWN_NAMESPACE",
    "ApiCall",
    "api_caller",
    "api_calls",
    "curl_from_pod",
    "curl_in_pod",
    "parse_call",
    "wait_for_call",
]

#: The command of the tools image that makes the calls (helpers.cluster.toolsimage).
CALL_API = "call-api"
#: How many times :func:`curl_in_pod` makes a call that got no HTTP answer.
CURL_ATTEMPTS = 3
#: In a path: the Pod's own namespace (a dependent environment variable of the container).
OWN_NAMESPACE = "$(POD_NAMESPACE)"
_LINE = re.compile(r"^(\S+Z) GET (\S+) (\d{3}) ?(.*)$")


@dataclass(frozen=True)
class ApiCall:
    """One request a workload made, as its log recorded it."""

    at: datetime
    path: str
    status: int  # 0: no HTTP answer at all (DNS, TCP or TLS failed)
    message: str

    def __str__(self) -> str:
        return f"GET {self.path} → {self.status or 'no answer'} {self.message}".rstrip()


def parse_call(line: str) -> ApiCall | None:
    """The call one log line of ``call-api`` records, or None for any other line.

    >>> call = parse_call("2026-12-01T21:50:00Z GET /api 401 Unauthorized")
    >>> call.status, call.path, call.message
    (401, '/api', 'Unauthorized')
    >>> parse_call("something else") is None
    True
    """
    match = _LINE.match(line.strip())
    if not match:
        return None
    at = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return ApiCall(at, match.group(2), int(match.group(3)), match.group(4))


def api_caller(
    name: str,
    service_account: str | None,
    paths: Sequence[str],
    *,
    every: float = 2,
    automount: bool | None = None,
    volumes: list[dict[str, Any]] | None = None,
    volume_mounts: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest of a Pod that calls ``GET path`` for each path, every ``every`` seconds.

    A path may contain ``$(POD_NAMESPACE)``, which the kubelet replaces with the Pod's own
    namespace, so one manifest works in any namespace (see :data:`OWN_NAMESPACE`).
    """
    container: dict[str, Any] = {
        "name": "main",
        "image": TOOLS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": [CALL_API, *paths],
        "env": [
            {"name": "EVERY", "value": str(every)},
            # a path may say $(POD_NAMESPACE): the kubelet puts the Pod's own namespace there
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
        ],
    }
    if volume_mounts:
        container["volumeMounts"] = volume_mounts
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 1, "containers": [container]}
    if service_account:
        spec["serviceAccountName"] = service_account
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    if volumes:
        spec["volumes"] = volumes
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def api_calls(core: client.CoreV1Api, namespace: str, pod: str) -> list[ApiCall]:
    """Every call the workload in ``pod`` logged, oldest first ([] before the first one)."""
    try:
        log = core.read_namespaced_pod_log(pod, namespace, container="main")
    except ApiException as exc:
        if exc.status in (400, 404):  # not started yet, or gone
            return []
        raise
    return [call for line in log.splitlines() if (call := parse_call(line))]


def wait_for_call(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    *,
    status: int | None = None,
    path: str | None = None,
    after: datetime | None = None,
    timeout: float = 30,
) -> ApiCall:
    """Wait for the workload's next call that matches; the newest one that does.

    ``after`` skips calls logged before that moment (log times have whole seconds, so a
    call in the same second counts). Raises a one-sentence ClusterError on timeout, with
    the last call the workload did make.
    """
    since = after.replace(microsecond=0) if after else None
    last: list[ApiCall] = []

    def logged() -> ApiCall | None:
        calls = [
            c
            for c in api_calls(core, namespace, pod)
            if (since is None or c.at >= since) and (path is None or c.path == path)
        ]
        last[:] = calls[-1:] or last
        matching = [c for c in calls if status is None or c.status == status]
        return matching[-1] if matching else None

    call, _ = poll_until(
        logged,
        timeout=timeout,
        interval=0.5,
        what=f"Pod {namespace}/{pod} to log {f'a {status}' if status else 'a call'}",
        error=ClusterError,
        why=lambda: f"its last call: {last[0]}" if last else "it logged no call",
    )
    return call


def curl_from_pod(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    path: str,
    token_file: str = f"{TOKEN_DIR}/token",
) -> tuple[int, dict[str, Any]]:
    """``curl`` the API server from inside ``pod``, as a program there would; (status, body).

    The address comes from the Pod's ``KUBERNETES_SERVICE_HOST``/``PORT``, trust from its
    ``ca.crt``, the credential from ``token_file`` (a file *in the Pod*): nothing is
    handed in from outside. The body is the API server's JSON answer (``{}`` if none).
    """
    api = "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
    return curl_in_pod(core, namespace, pod, api + path, token_file=token_file)


def curl_in_pod(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    url: str,
    *,
    token_file: str = f"{TOKEN_DIR}/token",
    ca_file: str = f"{TOKEN_DIR}/ca.crt",
    method: str = "GET",
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """``curl`` any HTTPS ``url`` from inside ``pod`` with a token file of the Pod; (status, body).

    ``url`` may use the Pod's environment (``$PARTNER``); trust is ``ca_file`` only (no
    public CAs in the tools image). ``body`` is sent as JSON. A call that got no HTTP answer
    (refused, timed out) is made again, up to :data:`CURL_ATTEMPTS` times in all: on a busy
    machine a server can miss curl's 15 s once. Status 0: still no HTTP answer, and the
    answer ``{"curl": its message}``.
    """
    bearer = f'-H "Authorization: Bearer $(cat {token_file})"'
    data = ""
    if body is not None:
        payload = json.dumps(body).replace("'", "'\\''")
        data = f" -H 'Content-Type: application/json' -d '{payload}'"
    # HTTP/1.1: over HTTP/2, curl once gave us a 401 without its body (a POST the server
    # refused before reading the body it sent)
    curl = f"curl -sS --http1.1 --max-time 15 --cacert {ca_file} {bearer} -X {method}{data}"
    # no HTTP answer (status 0): the body is curl's own message (refused, timed out, TLS)
    script = (
        f'rm -f /tmp/answer; code=$({curl} -o /tmp/answer -w "%{{http_code}}" "{url}" '
        '2>/tmp/curl-error); echo "$code"; '
        'if [ "$code" = 000 ]; then cat /tmp/curl-error; else cat /tmp/answer 2>/dev/null; fi; true'
    )
    for attempt in range(1, CURL_ATTEMPTS + 1):
        out = exec_in_pod(core, namespace, pod, ["sh", "-c", script]).stdout
        code, _, answer_text = out.partition("\n")
        status = int(code.strip() or 0)
        if status:
            break
        if attempt == CURL_ATTEMPTS:
            return 0, {"curl": answer_text.strip() or "no output from the Pod"}
        time.sleep(attempt)
    try:
        answer = json.loads(answer_text) if answer_text.strip() else {}
    except ValueError:
        answer = {"text": answer_text}
    return status, answer
