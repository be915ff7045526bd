"""A hostile learner against workshop mode: every attack must be refused by the API server.

Each test is one attack (or a family of variants) made with nothing but what a learner
has — their kubeconfig, and whatever they can make with it — or with no credential at
all, on a real cluster. The instructor's commands (``cut-off``, ``down``) are then run
and every credential the learner made must be dead. Findings of the first hostile review
of workshop mode (issue 17) are marked with the mechanism that now stops them.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from helpers import busybox_pod, facts, names
from helpers.course import Course
from helpers.labs import progress
from helpers.waiting import gone, poll_until
from helpers.workshop import Learner, Workshop, admission, policy
from helpers.workshop.classroom import status_with
from tests.cluster.in_pod import IN_POD, learners_in_pods

NAME = "wsa"
LEARNERS = 3
RBAC = "rbac.authorization.k8s.io"
#: The PodLevelResources gate is on by default from 1.34 (beta; alpha in 1.32).
POD_LEVEL_RESOURCES_ON = (1, 34)


@pytest.fixture(scope="module")
def ws(course: Course) -> Iterator[tuple[Workshop, list[Learner]]]:
    workshop = Workshop(course, NAME)
    if workshop.existing():
        workshop.down()
    learners = workshop.up(LEARNERS, 3600)
    hub = None
    if IN_POD:  # each learner's credential: their JupyterLab Pod's token (in_pod.py)
        hub, learners = learners_in_pods(course, workshop, learners, port=8040)
    yield workshop, learners
    if hub is not None:
        hub.down()
    if workshop.existing():
        workshop.down(wait=False)


def api_of(learner: Learner) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(learner.kubeconfig))


def refused(call: Callable[[], Any], *statuses: int) -> str:
    """Run ``call``; it must fail with one of ``statuses`` (403 by default). The message."""
    wanted = statuses or (403,)
    try:
        call()
    except ApiException as exc:
        assert exc.status in wanted, (exc.status, exc.body)
        try:
            return json.loads(exc.body)["message"]
        except (ValueError, KeyError, TypeError):
            return str(exc.body)
    pytest.fail(f"the API server accepted it (wanted {wanted})")


def crb(name: str, role: str, subjects: list[dict]) -> dict:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def rb(name: str, role: str, subjects: list[dict]) -> dict:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def group(name: str) -> dict:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}


def anonymous(course: Course, method: str, path: str, body: dict | None = None) -> int:
    """The HTTP status of a request with no credential at all."""
    ctx = ssl.create_default_context(cafile=course.api.configuration.ssl_ca_cert)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(course.server + path, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/merge-patch+json")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# -- the reproduction of the issue: a binding to system:anonymous --------------------------


def test_binding_my_role_to_anonymous_is_refused_at_the_first_step(ws) -> None:
    _, learners = ws
    me = learners[0]
    rbac = client.RbacAuthorizationV1Api(api_of(me))
    mine = policy.object_name(NAME, me.prefix)
    # the issue's exact name, and a course name the policy would otherwise accept
    for name in (f"{me.prefix}-anon", f"{me.prefix}-controller-ns-auth-delegator"):
        refused(
            lambda n=name: rbac.create_cluster_role_binding(
                crb(n, mine, [{"apiGroup": RBAC, "kind": "User", "name": "system:anonymous"}])
            )
        )


def test_no_binding_of_a_learner_names_anyone_but_their_own_service_accounts(ws) -> None:
    _, learners = ws
    me, other = learners[0], learners[1]
    api = api_of(me)
    rbac = client.RbacAuthorizationV1Api(api)
    ns = names.ns("controller-ns", me.prefix)
    theirs = names.ns("controller-ns", other.prefix)
    strangers = [
        {"apiGroup": RBAC, "kind": "User", "name": "system:anonymous"},
        {"apiGroup": RBAC, "kind": "User", "name": "jane"},
        group("system:unauthenticated"),
        group("system:authenticated"),
        group("system:serviceaccounts"),
        group("system:masters"),
        group(f"system:serviceaccounts:{theirs}"),
        group("system:serviceaccounts:"),
        group(f"system:serviceaccounts:default:{theirs}"),
        {"kind": "ServiceAccount", "name": "default", "namespace": theirs},
        {"apiGroup": RBAC, "kind": "User", "name": f"system:serviceaccount:{theirs}:default"},
        {"apiGroup": RBAC, "kind": "User", "name": f"system:serviceaccount:default:{theirs}:x"},
        {"apiGroup": RBAC, "kind": "User", "name": "system:serviceaccount:default"},
    ]
    for who in strangers:
        message = refused(
            lambda w=who: rbac.create_namespaced_role_binding(ns, rb("x", "view", [w]))
        )
        assert "no other users, no other groups" in message, message
        refused(
            lambda w=who: rbac.create_cluster_role_binding(
                crb(f"{me.prefix}-controller-ns-auth-delegator", "system:auth-delegator", [w])
            )
        )
    # …and updating a good binding into a bad one
    good = {"kind": "ServiceAccount", "name": "default", "namespace": ns}
    rbac.create_namespaced_role_binding(ns, rb("good", "view", [good]))
    try:
        refused(
            lambda: rbac.patch_namespaced_role_binding(
                "good", ns, {"subjects": [good, group("system:authenticated")]}
            )
        )
    finally:
        rbac.delete_namespaced_role_binding("good", ns)
    # what the course itself binds stays possible: its own accounts, by kind ServiceAccount,
    # by user name (lab 04) or by their namespace's group, and accounts of a namespace no
    # learner can act in (lab 07's binding to `default/syncer`, the bug to find; notebook
    # 04's article group `system:serviceaccounts:controller-svc`, a namespace nobody has)
    own_user = {"apiGroup": RBAC, "kind": "User", "name": f"system:serviceaccount:{ns}:x"}
    elsewhere = [
        {"kind": "ServiceAccount", "name": "syncer", "namespace": "default"},
        group("system:serviceaccounts:controller-svc"),
        {"apiGroup": RBAC, "kind": "User", "name": "system:serviceaccount:default:syncer"},
    ]
    rbac.create_namespaced_role_binding(
        ns, rb("own-group", "view", [group(f"system:serviceaccounts:{ns}"), good, own_user])
    )
    rbac.create_namespaced_role_binding(ns, rb("elsewhere", "view", elsewhere))
    rbac.delete_namespaced_role_binding("own-group", ns)
    rbac.delete_namespaced_role_binding("elsewhere", ns)


# -- anonymous: off but for health and discovery --------------------------------------------


# (not beside notebook 17: the whole module is in the root conftest's "issuer-keys" unit)
def test_anonymous_requests_are_401_except_health_and_discovery(ws, course: Course) -> None:
    _, learners = ws
    target = names.ns("become-ns", learners[0].prefix)
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    assert anonymous(course, "PATCH", f"/api/v1/namespaces/{target}", patch) == 401
    for path in ("/api", "/apis", "/version", "/metrics", "/api/v1/namespaces"):
        assert anonymous(course, "GET", path) == 401, path
    assert anonymous(course, "GET", "/livez") == 200
    assert anonymous(course, "GET", "/readyz") == 200
    # discovery: authenticated as system:anonymous, then RBAC says no (notebook 08)
    assert anonymous(course, "GET", "/openid/v1/jwks") == 403


def test_deny_by_default_refuses_anonymous_even_with_rbac_on_its_side(ws, course: Course) -> None:
    """If anonymous requests were accepted and someone bound them to cluster-admin, the
    learner's space still refuses them: the policy looks at who asks, not at RBAC."""
    _, learners = ws
    target = names.ns("become-ns", learners[0].prefix)
    name = "wsa-test-anonymous-is-admin"
    course.rbac.create_cluster_role_binding(
        crb(name, "cluster-admin", [{"apiGroup": RBAC, "kind": "User", "name": "system:anonymous"}])
    )
    _until_allowed(course, "system:anonymous", ["system:unauthenticated"], target)
    try:
        as_anonymous = client.ApiClient(course.api.configuration)
        as_anonymous.set_default_header("Impersonate-User", "system:anonymous")
        as_anonymous.set_default_header("Impersonate-Group", "system:unauthenticated")
        core = client.CoreV1Api(as_anonymous)
        message = refused(
            lambda: core.patch_namespace(
                target,
                {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
            )
        )
        assert "only they and the instructor may change it" in message, message
        refused(lambda: core.create_namespaced_config_map(target, {"metadata": {"name": "x"}}))
        # outside the learners' spaces RBAC alone decides: the binding works there
        core.read_namespace("default")
    finally:
        course.rbac.delete_cluster_role_binding(name)


def _until_allowed(course: Course, user: str, groups: list[str], namespace: str) -> None:
    """Wait until RBAC's informers have seen a new binding (about a second)."""
    spec = client.V1SubjectAccessReviewSpec(
        user=user,
        groups=groups,
        resource_attributes=client.V1ResourceAttributes(
            verb="patch", resource="namespaces", name=namespace
        ),
    )
    deadline = time.monotonic() + 15
    while not course.authz.create_subject_access_review(
        client.V1SubjectAccessReview(spec=spec)
    ).status.allowed:
        assert time.monotonic() < deadline, "the binding never took effect"
        time.sleep(0.2)


def test_deny_by_default_refuses_any_other_account(ws, course: Course, namespace: str) -> None:
    """An account the instructor never named — even one with cluster-admin — is refused."""
    _, learners = ws
    target = names.ns("setup-ns", learners[1].prefix)
    course.core.create_namespaced_service_account(namespace, {"metadata": {"name": "ops"}})
    name = f"wsa-test-{namespace}"
    course.rbac.create_cluster_role_binding(
        crb(
            name,
            "cluster-admin",
            [{"kind": "ServiceAccount", "name": "ops", "namespace": namespace}],
        )
    )
    _until_allowed(course, f"system:serviceaccount:{namespace}:ops", [], target)
    try:
        token = course.core.create_namespaced_service_account_token(
            "ops",
            namespace,
            client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
        ).status.token
        core = client.CoreV1Api(course.client_for_token(token))
        refused(lambda: core.create_namespaced_config_map(target, {"metadata": {"name": "x"}}))
        refused(lambda: core.delete_namespace(target))
        refused(
            lambda: core.create_namespace(
                {"metadata": {"name": f"{learners[1].prefix}-lab-02-leak"}}
            )
        )
        assert core.list_namespaced_config_map(target).items is not None, "reading is RBAC's call"
    finally:
        course.rbac.delete_cluster_role_binding(name)


# -- labels: the workshop's, Pod Security's, aggregation's ----------------------------------


def test_fake_learners_are_not_believed(ws, course: Course) -> None:
    workshop, learners = ws
    me = learners[0]
    core = client.CoreV1Api(api_of(me))
    fake = {policy.LABEL_WORKSHOP: NAME, policy.LABEL_LEARNER: "cluster"}
    demo = names.ns("controller-ns-demo", me.prefix)
    message = refused(
        lambda: core.create_namespace(
            {
                "metadata": {
                    "name": demo,
                    "labels": {**fake, "pod-security.kubernetes.io/enforce": "baseline"},
                }
            }
        )
    )
    assert "belong to the workshop" in message, message
    # even a namespace an admin labels so is not a learner: the roster says who is
    course.core.create_namespace({"metadata": {"name": "cluster-fake", "labels": fake}})
    try:
        assert workshop.existing() == [lr.prefix for lr in learners]
        assert "cluster" not in workshop.status()["learner"].tolist()
        workshop.extend(3600)  # crashed on a fake learner before
    finally:
        course.core.delete_namespace("cluster-fake")
    assert course.rbac.read_cluster_role("cluster-admin").metadata.name == "cluster-admin"


def test_a_learner_cannot_touch_the_workshops_labels(ws) -> None:
    _, learners = ws
    me = learners[0]
    core = client.CoreV1Api(api_of(me))
    ns = names.ns("legacy-ns", me.prefix)
    for labels in (
        {policy.LABEL_WORKSHOP: "other"},  # relabel to escape `down`
        {policy.LABEL_WORKSHOP: None},
        {policy.LABEL_LEARNER: "cluster"},
        {policy.LABEL_PROTECTED: None},
    ):
        refused(lambda lb=labels: core.patch_namespace(ns, {"metadata": {"labels": lb}}))
    # a label that makes the course's emptying skip an object of the learner's
    refused(
        lambda: core.create_namespaced_config_map(
            ns, {"metadata": {"name": "keep-me", "labels": {policy.LABEL_PROTECTED: "true"}}}
        )
    )


@pytest.mark.parametrize(
    "labels",
    [
        {"pod-security.kubernetes.io/enforce": "privileged"},
        {"pod-security.kubernetes.io/enforce": None},
        {"pod-security.kubernetes.io/enforce-version": "v1.22"},
        {"pod-security.kubernetes.io/enforce-version": "v1.33"},
    ],
    ids=["privileged", "removed", "v1.22", "v1.33"],
)
def test_pod_security_stays_on_at_latest(ws, labels: dict) -> None:
    _, learners = ws
    core = client.CoreV1Api(api_of(learners[2]))
    ns = names.ns("become-ns", learners[2].prefix)
    message = refused(lambda: core.patch_namespace(ns, {"metadata": {"labels": labels}}))
    assert "Pod Security baseline or restricted" in message, message


def test_new_namespaces_only_with_course_names_and_pod_security(ws) -> None:
    _, learners = ws
    me = learners[2]
    core = client.CoreV1Api(api_of(me))
    psa = {"pod-security.kubernetes.io/enforce": "baseline"}
    refused(
        lambda: core.create_namespace({"metadata": {"name": f"{me.prefix}-mine", "labels": psa}})
    )
    refused(
        lambda: core.create_namespace(
            {"metadata": {"generateName": f"{me.prefix}-", "labels": psa}}
        )
    )
    demo = names.ns("controller-ns-demo", me.prefix)
    message = refused(lambda: core.create_namespace({"metadata": {"name": demo}}))
    assert "Pod Security" in message, message
    core.create_namespace({"metadata": {"name": demo, "labels": psa}})
    core.delete_namespace(demo)  # and the learner may delete what they made


def test_cluster_roles_never_aggregate_into_the_built_in_ones(ws, course: Course) -> None:
    _, learners = ws
    me = learners[1]
    rbac = client.RbacAuthorizationV1Api(api_of(me))
    name = f"{me.prefix}-audit-node-reader"
    role = {
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
    }
    for label in (
        "rbac.authorization.k8s.io/aggregate-to-view",
        "rbac.authorization.k8s.io/aggregate-to-admin",
    ):
        refused(
            lambda lb=label: rbac.create_cluster_role(
                {**role, "metadata": {"name": name, "labels": {lb: "true"}}}
            )
        )
    refused(
        lambda: rbac.create_cluster_role(
            {
                **role,
                "aggregationRule": {
                    "clusterRoleSelectors": [
                        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}
                    ]
                },
            }
        )
    )
    refused(lambda: rbac.create_cluster_role({**role, "metadata": {"name": f"{me.prefix}-any"}}))
    rbac.create_cluster_role(role)
    try:
        refused(
            lambda: rbac.patch_cluster_role(
                name,
                {"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}},
            )
        )
    finally:
        rbac.delete_cluster_role(name)
    view = {r.metadata.name for r in course.rbac.list_cluster_role().items}
    assert name not in view


# -- surviving cut-off and down ------------------------------------------------------------


def _ghosts(me: Learner) -> list[str]:
    """What a learner who expects to be cut off prepares: accounts that keep their rights."""
    api = api_of(me)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    ns = names.ns("legacy-ns", me.prefix)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "ghost"}})
    ghost = {"kind": "ServiceAccount", "name": "ghost", "namespace": ns}
    rbac.create_namespaced_role_binding(ns, rb("ghost-view", "view", [ghost]))
    rbac.create_namespaced_role_binding(
        ns,
        rb(
            "default-view", "view", [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]
        ),
    )
    rbac.create_cluster_role_binding(
        crb(f"{me.prefix}-controller-ns-auth-delegator", "system:auth-delegator", [ghost])
    )
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {
                "name": "ghost-token",
                "annotations": {"kubernetes.io/service-account.name": "ghost"},
            },
            "type": "kubernetes.io/service-account-token",
        },
    )
    # a year-long token: the course's clusters grant 48 h at most
    # (--service-account-max-token-expiration; and it dies with its account anyway)
    year = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=365 * 86400)
    )
    long = core.create_namespaced_service_account_token("ghost", ns, year).status
    left = long.expiration_timestamp.timestamp() - time.time()
    assert 0 < left <= 48 * 3600 + 60, left
    tokens = [long.token]
    for sa in ("ghost", "default"):
        tr = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        tokens.append(core.create_namespaced_service_account_token(sa, ns, tr).status.token)
    deadline = time.monotonic() + 30
    while True:
        secret = core.read_namespaced_secret("ghost-token", ns)
        if (secret.data or {}).get("token"):
            import base64

            tokens.append(base64.b64decode(secret.data["token"]).decode())
            break
        assert time.monotonic() < deadline, "the token controller never filled the Secret"
        time.sleep(0.2)
    pod = busybox_pod("ghost-pod")
    pod["spec"]["serviceAccountName"] = "ghost"
    core.create_namespaced_pod(ns, pod)
    return tokens


def _all_401(course: Course, tokens: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    for token in tokens:
        while (status := status_with(course, token)) != 401:
            assert time.monotonic() < deadline, f"a learner's token still answers {status}"
            time.sleep(0.5)


def test_cut_off_leaves_no_ghost(ws, course: Course) -> None:
    workshop, learners = ws
    me = learners[1]
    tokens = _ghosts(me)
    assert all(status_with(course, t) == 201 for t in tokens)
    gone = workshop.cut_off(me.prefix)
    _all_401(course, [*tokens, _token(me)])
    assert any("ghost" in g for g in gone), gone
    ns = names.ns("legacy-ns", me.prefix)
    assert not [
        p for p in course.core.list_namespaced_pod(ns).items if not p.metadata.deletion_timestamp
    ]
    left = {b.metadata.name for b in course.rbac.list_namespaced_role_binding(ns).items}
    assert left == {"sa-course-workshop-learner"}, left
    assert not [
        c
        for c in course.rbac.list_cluster_role_binding().items
        if c.metadata.name.startswith(f"{me.prefix}-")
    ]
    fresh = workshop.reset(me.prefix, 3600)
    assert status_with(course, _token(fresh)) == 201
    learners[1] = fresh


def test_down_finds_everything_by_name_and_every_credential_dies(course: Course) -> None:
    """A workshop of its own: a learner prepares ghosts and relabels; down still gets all."""
    workshop = Workshop(course, "wsd")
    if workshop.existing():
        workshop.down()
    (me,) = workshop.up(1, 3600)
    tokens = [*_ghosts(me), _token(me)]
    ns = names.ns("lab-02-leak", me.prefix)
    # what the learner cannot do, an admin mistake might: relabel it away from the workshop
    course.core.patch_namespace(ns, {"metadata": {"labels": {policy.LABEL_WORKSHOP: "other"}}})
    proof = workshop.down(wait=False)
    assert set(proof["status"]) == {401}
    assert proof["credentials"].sum() >= 4, proof  # kubeconfig, ghost Secret, ghost, default …
    _all_401(course, tokens)
    try:
        assert course.core.read_namespace(ns).metadata.deletion_timestamp, "relabelled, still found"
    except ApiException as exc:
        assert exc.status == 404
    assert not workshop.existing()
    assert not [
        n
        for n in course.rbac.list_cluster_role().items
        if n.metadata.name.startswith(policy.object_name("wsd", ""))
    ]
    node = course.core.list_node().items[0]
    assert admission.slot_resource(me.prefix) not in (node.status.allocatable or {})


def _token(learner: Learner) -> str:
    from helpers.workshop.kubeconfigs import LearnerFile

    return LearnerFile(learner.kubeconfig).token


# -- the node: probes, host network, Services -----------------------------------------------


def test_no_probe_or_hook_reaches_the_nodes_own_addresses(ws) -> None:
    _, learners = ws
    me = learners[0]
    core = client.CoreV1Api(api_of(me))
    ns = names.ns("kubelet-ns", me.prefix)
    probes = [
        {"livenessProbe": {"httpGet": {"host": "127.0.0.1", "port": 2379, "path": "/health"}}},
        {"readinessProbe": {"tcpSocket": {"host": "127.0.0.1", "port": 2379}}},
        {"startupProbe": {"httpGet": {"host": "10.85.0.1", "port": 6443}}},
        {"lifecycle": {"postStart": {"httpGet": {"host": "127.0.0.1", "port": 10250}}}},
    ]
    for extra in probes:
        pod = busybox_pod("prober")
        pod["spec"]["containers"][0].update(extra)
        message = refused(lambda p=pod: core.create_namespaced_pod(ns, p))
        assert "may not name a host" in message or "probe" in message.lower(), message
    sidecar = busybox_pod("prober")
    sidecar["spec"]["initContainers"] = [
        {
            **sidecar["spec"]["containers"][0],
            "name": "init",
            "livenessProbe": {"tcpSocket": {"host": "127.0.0.1", "port": 2379}},
            "restartPolicy": "Always",
        }
    ]
    refused(lambda: core.create_namespaced_pod(ns, sidecar))
    host = busybox_pod("hosty")
    host["spec"].update(hostNetwork=True, hostPID=True)
    refused(lambda: core.create_namespaced_pod(ns, host))
    path = busybox_pod("rooty")
    path["spec"]["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    refused(lambda: core.create_namespaced_pod(ns, path))


def test_services_stay_inside_the_cluster(ws, course: Course) -> None:
    """Learners may not make Services; an account they make admin of a namespace may (notebook
    11's ``ci-bot``): still only ClusterIP, never on the node's ports or foreign addresses."""
    _, learners = ws
    me = learners[0]
    api = api_of(me)
    ns = names.ns("audit-bad", me.prefix)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "bot"}})
    bot = {"kind": "ServiceAccount", "name": "bot", "namespace": ns}
    rbac.create_namespaced_role_binding(ns, rb("bot-admin", "cluster-admin", [bot]))
    tr = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token("bot", ns, tr).status.token
    as_bot = client.CoreV1Api(course.client_for_token(token))
    base = {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    for spec in (
        {"type": "NodePort"},
        {"type": "LoadBalancer"},
        {"externalIPs": ["10.85.0.1"]},
        {"type": "ExternalName", "externalName": "kubernetes.default.svc"},
    ):
        body = {**base, "spec": {**base["spec"], **spec}}
        message = refused(lambda b=body: as_bot.create_namespaced_service(ns, b))
        assert "stays inside the cluster" in message, message
    as_bot.create_namespaced_service(ns, base)
    as_bot.delete_namespaced_service("svc", ns)
    rbac.delete_namespaced_role_binding("bot-admin", ns)
    core.delete_namespaced_service_account("bot", ns)


# -- fair shares --------------------------------------------------------------------------


def test_a_learner_cannot_take_more_than_their_share(ws, course: Course) -> None:
    _, learners = ws
    me, other = learners[2], learners[0]
    core = client.CoreV1Api(api_of(me))
    ns = names.ns("bound-ns", me.prefix)
    big = busybox_pod("big")
    big["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "400m"},
        "limits": {"cpu": "400m"},
    }
    refused(lambda: core.create_namespaced_pod(ns, big))
    hungry = busybox_pod("hungry")
    hungry["spec"]["containers"][0]["resources"] = {"limits": {"memory": "8Gi"}}
    refused(lambda: core.create_namespaced_pod(ns, hungry))
    disk = busybox_pod("disk")
    disk["spec"]["containers"][0]["resources"] = {"limits": {"ephemeral-storage": "100Gi"}}
    refused(lambda: core.create_namespaced_pod(ns, disk))
    theirs = busybox_pod("theirs")
    theirs["spec"]["containers"][0]["resources"] = {
        "limits": {admission.slot_resource(other.prefix): "1"}
    }
    refused(lambda: core.create_namespaced_pod(ns, theirs), 403, 422)
    free = busybox_pod("free")
    free["spec"]["containers"][0]["resources"] = {
        "limits": {admission.slot_resource(me.prefix): "0"}
    }
    refused(lambda: core.create_namespaced_pod(ns, free), 403, 422)
    pod_level = busybox_pod("podlevel")
    pod_level["spec"]["resources"] = {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    if facts.kubernetes_version(course) >= POD_LEVEL_RESOURCES_ON:
        refused(lambda: core.create_namespaced_pod(ns, pod_level), 403, 422)
    else:
        # where the PodLevelResources gate is off the API server drops the field: the Pod
        # is an ordinary one, and takes one of the learner's slots like any other
        made = core.create_namespaced_pod(ns, pod_level)
        try:
            assert made.spec.resources is None, made.spec.resources
        finally:
            core.delete_namespaced_pod("podlevel", ns, grace_period_seconds=0)
            poll_until(
                lambda: gone(lambda: core.read_namespaced_pod("podlevel", ns)),
                timeout=60,
                what="the Pod podlevel deleted",
            )
    blob = {"metadata": {"name": "blob"}, "data": {"x": "A" * (1024 * 1024)}}
    message = refused(lambda: core.create_namespaced_config_map(ns, blob), 403, 413)
    assert "KiB" in message or "too large" in message.lower(), message


def test_the_pod_cap_spans_every_namespace(ws, course: Course) -> None:
    """More Pods than slots, spread over several namespaces: the rest wait, unscheduled."""
    _, learners = ws
    me = learners[2]
    core = client.CoreV1Api(api_of(me))
    slots = int(
        course.core.list_node().items[0].status.allocatable[admission.slot_resource(me.prefix)]
    )
    spaces = [names.ns(b, me.prefix) for b in ("setup-ns", "legacy-ns", "trust-ns", "lifetimes-ns")]
    made = []
    try:
        for i in range(slots + 2):
            ns = spaces[i % len(spaces)]
            core.create_namespaced_pod(ns, busybox_pod(f"p{i}"))
            made.append((ns, f"p{i}"))
        deadline = time.monotonic() + 60
        while True:
            pods = [core.read_namespaced_pod(n, ns) for ns, n in made]
            placed = [p for p in pods if p.spec.node_name]
            waiting = [p for p in pods if not p.spec.node_name]
            if len(placed) == slots and len(waiting) == 2:
                break
            assert time.monotonic() < deadline, (len(placed), len(waiting))
            time.sleep(1)
        reasons = " ".join(c.message or "" for p in waiting for c in (p.status.conditions or []))
        assert admission.slot_resource(me.prefix) in reasons, reasons
    finally:
        for ns, n in made:
            core.delete_namespaced_pod(n, ns, grace_period_seconds=0)


# -- the board ----------------------------------------------------------------------------


def test_the_board_marks_self_reports_and_survives_garbage(ws) -> None:
    from helpers.workshop.board import board, questions

    workshop, learners = ws
    me = learners[0]
    core = client.CoreV1Api(api_of(me))
    first, second = questions()[:2]
    body = {
        "data": {
            first: progress.value("Correct", 1),
            second: "{not json",
            "lab99.q1": progress.value("Correct", 1),
            "junk": json.dumps({"status": "Correct", "attempts": -5, "at": "yesterday"}),
        }
    }
    core.patch_namespaced_config_map(progress.CONFIGMAP, progress.home(me.prefix), body)
    table = board(workshop)
    assert table.loc[me.prefix, first] == "✓?", "self-reported, not verified"
    assert table.loc[me.prefix, second] == "⚠"
    assert "lab99.q1" not in table.columns
    # the learner may not grow it without end either
    refused(
        lambda: core.patch_namespaced_config_map(
            progress.CONFIGMAP, progress.home(me.prefix), {"data": {"x": "A" * 100_000}}
        ),
        403,
        413,
    )


# -- other learners, other accounts --------------------------------------------------------


def test_no_way_into_another_learners_space(ws) -> None:
    _, learners = ws
    me, other = learners[0], learners[1]
    api = api_of(me)
    core = client.CoreV1Api(api)
    theirs = names.ns("controller-ns", other.prefix)
    refused(lambda: core.create_namespaced_pod(theirs, busybox_pod("x")))
    # impersonating one of their accounts
    imp = client.ApiClient(api.configuration)
    imp.set_default_header("Impersonate-User", f"system:serviceaccount:{theirs}:controller-svc")
    refused(lambda: client.CoreV1Api(imp).list_namespaced_pod(theirs))
    # a ClusterRoleBinding under their prefix
    rbac = client.RbacAuthorizationV1Api(api)
    refused(
        lambda: rbac.create_cluster_role_binding(
            crb(
                f"{other.prefix}-controller-ns-auth-delegator",
                "system:auth-delegator",
                [{"kind": "ServiceAccount", "name": "default", "namespace": theirs}],
            )
        )
    )
    # a namespace under their prefix
    refused(
        lambda: core.create_namespace(
            {
                "metadata": {
                    "name": names.ns("controller-ns-demo", other.prefix),
                    "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
                }
            }
        )
    )


def test_constrained_impersonation_stays_in_the_learners_own_namespaces(ws) -> None:
    """The learner role holds notebook 12's constrained grant (impersonate:serviceaccount on
    `deployer`, impersonate-on:serviceaccount:get/list configmaps) in their namespaces only:
    neither another learner's `deployer` nor a cluster-wide request is within reach."""
    _, learners = ws
    me, other = learners[0], learners[1]
    api = api_of(me)
    for namespace in (names.ns("become-ns", other.prefix), "kube-system"):
        imp = client.ApiClient(api.configuration)
        imp.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:deployer")
        refused(
            lambda imp=imp, namespace=namespace: client.CoreV1Api(imp).list_namespaced_config_map(
                namespace
            )
        )
        refused(lambda imp=imp: client.CoreV1Api(imp).list_config_map_for_all_namespaces())
    own = f"system:serviceaccount:{names.ns('become-ns', me.prefix)}:deployer"
    mine = client.ApiClient(api.configuration)
    mine.set_default_header("Impersonate-User", own)
    for call in (
        lambda: client.CoreV1Api(mine).list_config_map_for_all_namespaces(),
        lambda: client.CoreV1Api(mine).list_namespaced_secret("kube-system"),
    ):
        said = refused(call)  # their own deployer may be impersonated; it holds nothing there
        assert f'User "{own}" cannot' in said or "cannot impersonate" in said, said
