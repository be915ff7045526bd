"""The workshop suites again, with each learner's credential taken from their JupyterLab Pod.

With ``WORKSHOP_IN_POD=1`` (tests/run.py's hub run), the isolation matrix
(``test_workshop.py``) and the attacks (``test_workshop_attacks.py``) start the workshop's
hub, sign every learner in as a browser does, and then act with the token the kubelet
projected into that learner's JupyterLab Pod — the one credential a browser-classroom
learner has — instead of the kubeconfig ``up`` wrote. Each kubeconfig written here holds
that Pod's token (mode 0600, in the workshop's own directory) and the learner's prefix.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.course import Course
from helpers.pods import exec_in_pod
from helpers.workshop import Learner, Workshop, kubeconfigs
from helpers.workshop.hub import Hub, HubSettings
from helpers.workshop.policy import HOME
from tools.bench_hub import sign_in_and_wait

__all__ = ["IN_POD", "hub_settings", "learners_in_pods"]

IN_POD = os.environ.get("WORKSHOP_IN_POD") == "1"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: The hub tests' ports per backend: the local and the kind run may overlap in time.
PORT_OFFSET = {"local": 0, "kind": 100, "kubeconfig": 200}


def hub_settings(course: Course, port: int) -> HubSettings:
    """A test hub on ``port`` (+ the backend's offset), its proxy's API and its own API next.

    On an existing cluster (the kubeconfig backend) the image and this machine's address on
    the Pods' network come from ``HUB_IMAGE`` and ``HUB_POD_ADDRESS``, as for ``make``.
    """
    port += PORT_OFFSET[course.backend]
    existing = course.backend == "kubeconfig"
    return HubSettings(
        port=port,
        proxy_api_port=port + 1,
        hub_port=port + 81,
        image=os.environ.get("HUB_IMAGE", "") if existing else "",
        pod_address=os.environ.get("HUB_POD_ADDRESS", "") if existing else "",
    )


def learners_in_pods(
    course: Course, ws: Workshop, learners: list[Learner], port: int
) -> tuple[Hub, list[Learner]]:
    """Start the hub, sign everyone in, and return learners whose kubeconfig is their Pod's."""
    hub = Hub(ws, hub_settings(course, port))
    links = hub.up([lr.prefix for lr in learners], 3600)
    for prefix, link in links.items():
        sign_in_and_wait(link.read_text().strip(), prefix)
    ca = Path(course.api.configuration.ssl_ca_cert).read_bytes()
    out = []
    for learner in learners:
        home = f"{learner.prefix}-{HOME}"
        pod = next(
            p.metadata.name
            for p in course.core.list_namespaced_pod(home, _request_timeout=30).items
            if p.status.phase == "Running"
        )
        token = exec_in_pod(course.core, home, pod, ["cat", TOKEN]).stdout.strip()
        expires = datetime.now(UTC) + timedelta(minutes=55)  # the kubelet's tokens: about 1 h
        doc = kubeconfigs.kubeconfig(ws.server, ca, token, learner.prefix, expires, ws.name)
        path = kubeconfigs.write(ws.dir / "in-pod" / f"{learner.prefix}.kubeconfig", doc)
        out.append(Learner(learner.prefix, path, learner.expires))
    return hub, out
