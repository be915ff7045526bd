"""A learner's kubeconfig: the API server, its CA, a bound ServiceAccount token, the prefix."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import names

__all__ = ["LearnerFile", "kubeconfig", "read", "write"]


def kubeconfig(
    server: str,
    ca_pem: bytes,
    token: str,
    prefix: str,
    expires: datetime | None = None,
    workshop: str = "",
) -> dict:
    """A kubeconfig whose only credential is ``token``; its context carries the prefix.

    A workshop's kubeconfig also names the workshop and the token's expiry.

    >>> doc = kubeconfig("https://h:6443", b"CA", "t", "ws1-07", datetime(2026, 1, 1), "ws1")
    >>> sorted(doc["contexts"][0]["context"]["extensions"][0]["extension"])
    ['expires', 'prefix', 'workshop']
    """
    extension: dict[str, str] = {"prefix": prefix}
    if workshop:
        extension["workshop"] = workshop
    if expires is not None:
        extension["expires"] = expires.astimezone(UTC).isoformat(timespec="seconds")
    context: dict[str, object] = {
        "cluster": "sa-course",
        "user": prefix,
        "extensions": [{"name": names.EXTENSION, "extension": extension}],
    }
    if workshop:
        context["namespace"] = names.ns("setup-ns", prefix)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sa-course",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": prefix, "user": {"token": token}}],
        "contexts": [{"name": prefix, "context": context}],
        "current-context": prefix,
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` to ``path``, readable by its owner only (it holds a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class LearnerFile:
    """A learner kubeconfig as read back: prefix, token, expiry, server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text())

    @property
    def prefix(self) -> str:
        return names.prefix_of_kubeconfig(self.path)

    @property
    def token(self) -> str:
        return self.doc["users"][0]["user"]["token"]

    @property
    def server(self) -> str:
        return self.doc["clusters"][0]["cluster"]["server"]

    @property
    def ca_pem(self) -> bytes:
        return base64.b64decode(self.doc["clusters"][0]["cluster"]["certificate-authority-data"])

    @property
    def expires(self) -> datetime:
        ext = self.doc["contexts"][0]["context"]["extensions"][0]["extension"]
        return datetime.fromisoformat(ext["expires"])


def read(directory: Path) -> list[LearnerFile]:
    """Every learner kubeconfig in ``directory``, in learner order."""
    return [LearnerFile(p) for p in sorted(directory.glob("*.kubeconfig"))]
