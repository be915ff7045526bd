"""Pods for the course: a busybox Pod with a ServiceAccount, exec into it, read its files.

The Pods run ``busybox:1.35`` (built from Debian's busybox-static, imported into the local
cluster or loaded into the kind node: never pulled), sleep, and stop within a second when
deleted. Pods that call the API server themselves are in :mod:`helpers.workloads`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.stream import stream

from .cluster.config import BUSYBOX_IMAGE
from .cluster.errors import ClusterError
from .cluster.waiting import deleted, get_or_none, gone, poll_until
from .errors import translate_api_errors
from .tokens import Token

#: Seconds a command run in a Pod (``exec_in_pod``) may take.
EXEC_TIMEOUT = 120.0

__all__ = [
    "TOKEN_DIR",
    "ExecResult",
    "busybox_pod",
    "delete_pod",
    "exec_in_pod",
    "read_pod_file",
    "read_pod_token",
    "run_pod",
    "wait_for_pod",
]

#: Where the kubelet mounts a Pod's ServiceAccount token, CA bundle and namespace.
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def busybox_pod(
    name: str,
    service_account: str | None = None,
    *,
    automount: bool | None = None,
    volumes: list[dict[str, Any]] | None = None,
    volume_mounts: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest of a Pod that sleeps in busybox, as a dict (what ``kubectl apply`` reads).

    >>> pod = busybox_pod("demo", "controller-svc")
    >>> pod["spec"]["serviceAccountName"], pod["spec"]["containers"][0]["image"]
    ('controller-svc', 'docker.io/library/busybox:1.35')
    """
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "86400"],
            }
        ],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    if volumes:
        spec["volumes"] = volumes
    if volume_mounts:
        spec["containers"][0]["volumeMounts"] = volume_mounts
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def wait_for_pod(
    core: client.CoreV1Api, namespace: str, name: str, timeout: float = 90
) -> client.V1Pod:
    """Wait until the Pod runs; fail with one sentence that says why if it does not."""
    last = ["it was not created"]

    def running() -> client.V1Pod | None:
        pod = get_or_none(lambda: core.read_namespaced_pod(name, namespace))
        if pod is None:
            return None
        phase = pod.status.phase
        if phase == "Running" and all(c.ready for c in pod.status.container_statuses or []):
            return pod
        if phase in {"Failed", "Succeeded"}:
            raise ClusterError(
                f"Pod {namespace}/{name} stopped (phase {phase}) instead of running."
            )
        last[0] = _why_not_running(pod)
        return None

    pod, _ = poll_until(
        running,
        timeout=timeout,
        what=f"Pod {namespace}/{name} to run",
        error=ClusterError,
        why=lambda: last[0],
    )
    return pod


def _why_not_running(pod: client.V1Pod) -> str:
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason:
            return f"{waiting.reason}: {waiting.message or ''}".strip(": ")
    for cond in pod.status.conditions or []:
        if cond.status != "True" and cond.message:
            return cond.message
    return f"phase {pod.status.phase}"


@translate_api_errors
def run_pod(
    core: client.CoreV1Api, namespace: str, manifest: dict[str, Any], timeout: float = 90
) -> client.V1Pod:
    """Create the Pod ``manifest`` in ``namespace`` and wait until it runs."""
    core.create_namespaced_pod(namespace, manifest)
    return wait_for_pod(core, namespace, manifest["metadata"]["name"], timeout)


@translate_api_errors
def delete_pod(core: client.CoreV1Api, namespace: str, name: str, wait: bool = True) -> None:
    """Delete a Pod and (by default) wait until the API server no longer has it."""
    if not deleted(lambda: core.delete_namespaced_pod(name, namespace)):
        return
    if wait:
        poll_until(
            lambda: gone(lambda: core.read_namespaced_pod(name, namespace)),
            timeout=60,
            what=f"Pod {namespace}/{name} to go",
            error=ClusterError,
        )


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container printed, and how it exited."""

    stdout: str
    stderr: str
    returncode: int

    def __str__(self) -> str:
        return self.stdout + self.stderr


def exec_in_pod(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    command: list[str],
    container: str | None = None,
    check: bool = True,
    timeout: float = EXEC_TIMEOUT,
) -> ExecResult:
    """Run ``command`` in a Pod's container (what ``kubectl exec`` does) and collect output.

    A command still running after ``timeout`` seconds raises ClusterError (the stream is
    closed; the process in the Pod may run on).
    """
    with translate_api_errors():
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            container=container,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
    out: list[str] = []
    err: list[str] = []
    deadline = time.monotonic() + timeout
    while resp.is_open():
        if time.monotonic() > deadline:
            resp.close()
            raise ClusterError(
                f"`{' '.join(command)}` in {namespace}/{pod} did not finish within "
                f"{timeout:.0f} s; check the Pod (`kubectl describe pod`) and run the cell again."
            )
        resp.update(timeout=1)
        if resp.peek_stdout():
            out.append(resp.read_stdout())
        if resp.peek_stderr():
            err.append(resp.read_stderr())
    resp.close()
    code = resp.returncode
    result = ExecResult("".join(out), "".join(err), 0 if code is None else int(code))
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` exited with {result.returncode} in {namespace}/{pod}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def read_pod_file(core: client.CoreV1Api, namespace: str, pod: str, path: str) -> str:
    """The content of a file inside a Pod (``kubectl exec … -- cat path``)."""
    return exec_in_pod(core, namespace, pod, ["cat", path]).stdout


def read_pod_token(
    core: client.CoreV1Api, namespace: str, pod: str, path: str = f"{TOKEN_DIR}/token"
) -> Token:
    """The ServiceAccount token a Pod sees, wrapped so it prints masked."""
    return Token(read_pod_file(core, namespace, pod, path))
