"""The course's tools image: a shell, curl that verifies TLS, jq, openssl and kubectl.

Pods that call the API server themselves (``curl --cacert …/ca.crt -H "Authorization:
Bearer $(cat …/token)" https://kubernetes.default.svc/…``, ``kubectl auth whoami`` from
inside a Pod) need more than busybox, whose ``wget`` cannot verify a certificate. The
image is built here, without a registry: Debian bookworm's ``bash``, ``coreutils``,
``grep``, ``sed``, ``libc-bin`` (``getent``), ``curl``, ``jq`` and ``openssl`` (mutual TLS
between Pods with Pod certificates, notebook 16), unpacked by mmdebstrap
with their libraries and nothing else (no package manager, 45 MB), and a second layer
with the kubectl the course builds. It has no public CA bundle on purpose: a Pod trusts
its cluster through the ``ca.crt`` mounted next to its token (``curl --cacert``),
nothing more. It is tagged under the course's own name, :data:`TOOLS_IMAGE`, which no
registry serves: Pods use it with ``imagePullPolicy: IfNotPresent`` (or ``Never``) after
the local cluster imported it or ``kind load`` put it into the node.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import build, config, images
from .debian import ensure_rootfs, rootfs_key
from .images import Entry, HostFile
from .locks import file_lock
from .progress import Progress

__all__ = ["PACKAGES", "TOOLS_IMAGE", "ensure_pod_images", "ensure_tools_image", "recipe"]

#: The tools image's name: the course's own, never an upstream one.
TOOLS_IMAGE = config.TOOLS_IMAGE
#: Unpacked with their dependencies only (mmdebstrap's extract variant: no maintainer scripts).
PACKAGES = ("bash", "coreutils", "grep", "sed", "libc-bin", "curl", "jq", "openssl")
VARIANT = "extract"
#: What the maintainer scripts would have done that a shell in a Pod needs.
HOOKS = ('ln -sf bash "$1"/bin/sh', 'mkdir -p -m 1777 "$1"/tmp')
#: ``call-api PATH…``: what an in-cluster client does, one GET per path every $EVERY
#: seconds, one log line per request (helpers.workloads reads them back).
CALL_API_SCRIPT = r"""#!/bin/bash
# call-api PATH... -- GET each PATH from the API server the way an in-cluster client does:
# the address from KUBERNETES_SERVICE_HOST/PORT, the Pod's CA, the Pod's own token (read
# again for every request: the kubelet replaces it). One line per request:
#   <UTC time> GET <path> <HTTP status, 000 if none> <the server's message, or what it sent>
set -u
dir=${TOKEN_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
api="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"
summary='if .kind == "Status" then .message
  elif has("items") then "\(.items | length) \(.kind): " + ([.items[].metadata.name] | join(" "))
  else .kind // "" end'
while :; do
  for path in "$@"; do
    code=$(curl -sS --max-time 5 --cacert "$dir/ca.crt" \
      -H "Authorization: Bearer $(cat "$dir/token" 2>/dev/null)" \
      -o /tmp/answer -w '%{http_code}' "$api$path" 2>/tmp/error) || code=000
    if [ "$code" = 000 ]; then
      message=$(tr '\n' ' ' </tmp/error)
    else
      message=$(jq -r "$summary" /tmp/answer 2>/dev/null || head -c 120 /tmp/answer | tr '\n' ' ')
    fi
    printf '%s GET %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$path" "$code" "$message"
  done
  [ -n "${ONCE:-}" ] && exit 0
  sleep "${EVERY:-2}"
done
"""
IMAGE_CONFIG = {
    "Env": [images.PATH_ENV],
    "Cmd": ["sleep", "infinity"],
    "WorkingDir": "/",
    "Labels": {"org.opencontainers.image.title": "sa-course tools"},
}


def recipe(kubectl_stamp: str) -> str:
    """What decides the image's bytes: packages, hooks, the kubectl build, this recipe.

    >>> recipe("abc") == recipe("abc") != recipe("abd")
    True
    """
    blob = json.dumps(
        [
            rootfs_key(PACKAGES, VARIANT, HOOKS),
            kubectl_stamp,
            IMAGE_CONFIG,
            TOOLS_IMAGE,
            CALL_API_SCRIPT,
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def ensure_tools_image(layout: config.Layout, progress: Progress) -> Path:
    """The tools image as a docker-archive, built unless cached; its path."""
    kubernetes = build.kubernetes_build()
    bins = build.ensure_built(kubernetes, layout, progress).paths
    key = recipe(build.recipe_stamp(kubernetes, layout))
    out = layout.images / f"tools-{key}.tar"
    if out.is_file():
        return out
    rootfs = ensure_rootfs(layout, "tools", VARIANT, PACKAGES, HOOKS, progress)
    with progress.stage(
        f"writing the tools image {TOOLS_IMAGE} (bash, curl, jq, openssl, kubectl)"
    ):
        layer = layout.images / f"tools-{key}-kubectl.tar"
        images.write_layer(
            layer,
            [
                Entry("usr", "dir", mode=0o755),
                Entry("usr/local", "dir", mode=0o755),
                Entry("usr/local/bin", "dir", mode=0o755),
                HostFile("usr/local/bin/kubectl", bins["kubectl"]),
                Entry("usr/local/bin/call-api", data=CALL_API_SCRIPT.encode(), mode=0o755),
            ],
        )
        images.write_docker_archive(out, [TOOLS_IMAGE], [rootfs, layer], IMAGE_CONFIG)
        layer.unlink()
    for old in layout.images.glob("tools-*.tar"):
        if old != out:
            old.unlink()
    return out


def ensure_pod_images(layout: config.Layout, progress: Progress) -> dict[str, Path]:
    """Every image the course's Pods run (pause, busybox, tools); tag -> docker-archive."""
    with file_lock(layout.cache / "locks" / "pod-images.lock", "writing the Pod images", progress):
        return {
            **images.ensure_images(layout, progress),
            TOOLS_IMAGE: ensure_tools_image(layout, progress),
        }
