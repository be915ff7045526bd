"""An identity on one of our clusters that looks like an instructor's existing cluster.

The kubeconfig backend is for clusters the course did not start. To test it for real,
``tests/run.py`` points it at the running local cluster with a kubeconfig that holds no
client certificate and no admin rights: the bound token of a ServiceAccount
(``sa-course-existing/course-user``) bound to exactly the ClusterRole an administrator
applies for the course (``manifests/00-course-access.yaml``). Its control plane is out of
sight through this backend, as on a managed cluster.

The kubeconfig carries a prefix (:data:`PREFIX`, in the context extension a workshop
writes, :mod:`helpers.names`), so this run also proves that every notebook and lab takes
its names from ``helpers.names``: its namespaces are ``kc-controller-ns`` and so on, and
the ClusterRole is the manifest with those names (``python -m helpers.preflight --manifest kc``).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers import cluster, names
from helpers.accounts import create_service_account, create_token
from helpers.cluster import config
from helpers.course import Course, connect
from helpers.preflight import CLUSTER_ROLE, course_access_yaml
from helpers.workshop.kubeconfigs import kubeconfig

NAMESPACE = "sa-course-existing"
ACCOUNT = "course-user"
BINDING = f"{CLUSTER_ROLE}:{ACCOUNT}"
#: Long enough for the whole suite; the anchor Secret makes it revocable at once.
LIFETIME_SECONDS = 4 * 3600
#: The prefix of the course's names in this run.
PREFIX = "kc"


def _apply_cluster_role(admin: Course, prefix: str) -> None:
    text = names.localize(course_access_yaml(), prefix)
    docs = [d for d in yaml.safe_load_all(text) if d]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    try:
        admin.rbac.replace_cluster_role(role["metadata"]["name"], role)
    except ApiException as exc:
        if exc.status != 404:
            raise
        admin.rbac.create_cluster_role(role)


def _bind(admin: Course) -> None:
    binding = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=BINDING),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=CLUSTER_ROLE
        ),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=ACCOUNT, namespace=NAMESPACE)],
    )
    try:
        admin.rbac.create_cluster_role_binding(binding)
    except ApiException as exc:
        if exc.status != 409:
            raise


def course_user_kubeconfig(backend: str = "local", prefix: str = PREFIX) -> Path:
    """Write (afresh) the course user's kubeconfig for ``backend``'s running cluster; its path."""
    admin = connect(start=False, backend=backend)
    try:
        admin.core.read_namespace(NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
        admin.fresh_namespace(NAMESPACE)
        admin._namespaces.clear()  # keep it: the suite runs as its ServiceAccount
    try:
        create_service_account(admin.core, NAMESPACE, ACCOUNT)
    except Exception:
        admin.core.read_namespaced_service_account(ACCOUNT, NAMESPACE)
    _apply_cluster_role(admin, prefix)
    _bind(admin)
    token, _ = create_token(admin.core, NAMESPACE, ACCOUNT, expiration_seconds=LIFETIME_SECONDS)
    ca_pem = Path(admin.api.configuration.ssl_ca_cert).read_bytes()
    path = config.cache_dir() / "kubeconfig-backend" / f"{ACCOUNT}-on-{backend}.kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(yaml.safe_dump(kubeconfig(admin.server, ca_pem, token.reveal(), prefix)))
    assert cluster.current(backend), f"the {backend} cluster is running"
    return path


if __name__ == "__main__":
    print(course_user_kubeconfig())
