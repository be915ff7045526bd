"""Workshop mode on a real cluster: N learners, kept apart by the API server, revocable.

``WORKSHOP_LEARNERS`` learners (6 by default) are set up once for this module, as the
instructor would (``helpers.workshop``); each test then acts with the learners' own
kubeconfigs. The course itself, notebook by notebook, as learners: tests/run.py's
``workshop`` run.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from helpers import busybox_pod, names
from helpers.course import Course
from helpers.waiting import poll_until
from helpers.workshop import Learner, Workshop, admission, policy, signin
from helpers.workshop.classroom import status_with
from tests.cluster.in_pod import IN_POD, learners_in_pods

N = int(os.environ.get("WORKSHOP_LEARNERS", "6"))
NAME = "wst"


@pytest.fixture(scope="module")
def workshop(course: Course) -> Iterator[tuple[Workshop, list[Learner]]]:
    ws = Workshop(course, NAME)
    if ws.existing():
        ws.down()  # an interrupted earlier run
    started = time.monotonic()
    learners = ws.up(N, 3600)
    print(f"\n{N} learners up in {time.monotonic() - started:.1f}s")
    hub = None
    if IN_POD:  # each learner's credential: their JupyterLab Pod's token (in_pod.py)
        hub, learners = learners_in_pods(course, ws, learners, port=8030)
    yield ws, learners
    if hub is not None:
        hub.down()
    if ws.existing():
        ws.down()


def api_of(learner: Learner) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(learner.kubeconfig))


def status_of(call: Callable[..., object], *args: object) -> int:
    """The HTTP status of ``call(*args)``: 200, or the API server's error status."""
    try:
        call(*args)
        return 200
    except ApiException as exc:
        return int(exc.status)


def test_each_learner_is_their_own_service_account(workshop) -> None:
    ws, learners = workshop
    assert (
        [lr.prefix for lr in learners]
        == ws.existing()
        == [f"{NAME}-{i:02d}" for i in range(1, N + 1)]
    )
    for learner in learners:
        review = client.AuthenticationV1Api(api_of(learner)).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        assert review.status.user_info.username == policy.learner_username(learner.prefix)
        # the expiry read back from the API server: the hour asked for (or the server's cap)
        left = learner.expires.timestamp() - time.time()
        assert 0 < left <= 3600 + 5, left
        assert names.prefix_of_kubeconfig(learner.kubeconfig) == learner.prefix
        assert learner.kubeconfig.stat().st_mode & 0o777 == 0o600


def test_a_learner_works_in_their_own_namespaces(workshop) -> None:
    _, learners = workshop
    learner = learners[0]
    api = api_of(learner)
    core = client.CoreV1Api(api)
    ns = names.ns("setup-ns", learner.prefix)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "mine"}})
    pod = core.create_namespaced_pod(ns, busybox_pod("mine"))
    limits = pod.spec.containers[0].resources.limits
    assert limits["memory"] == "128Mi", "the LimitRange's default"
    assert limits[admission.slot_resource(learner.prefix)] == "1", "one of the learner's slots"
    token = core.create_namespaced_service_account_token(
        "default",
        ns,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    )
    review = client.AuthenticationV1Api(api).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token.status.token))
    )
    assert review.status.authenticated and review.status.user.username.endswith(f"{ns}:default")
    core.delete_namespaced_pod("mine", ns, grace_period_seconds=0)


def test_isolation_matrix(workshop) -> None:
    """Every learner against every other learner's namespaces: 403, whatever they try."""
    _, learners = workshop
    apis = {lr.prefix: client.CoreV1Api(api_of(lr)) for lr in learners}
    results = {}
    for me, other in itertools.permutations(learners, 2):
        core = apis[me.prefix]
        theirs = names.ns("controller-ns", other.prefix)
        results[(me.prefix, other.prefix)] = (
            status_of(core.list_namespaced_pod, theirs),
            status_of(core.list_namespaced_secret, theirs),
            status_of(core.create_namespaced_config_map, theirs, {"metadata": {"name": "x"}}),
            status_of(core.delete_namespace, theirs),
        )
    assert len(results) == N * (N - 1)
    assert {r for r in results.values()} == {(403, 403, 403, 403)}, results
    for learner in learners:
        assert status_of(apis[learner.prefix].list_secret_for_all_namespaces) == 403
        assert status_of(apis[learner.prefix].list_namespaced_secret, "kube-system") == 403


def _crb(name: str, role: str, prefix: str) -> dict:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [
            {"kind": "ServiceAccount", "name": "default", "namespace": names.ns("setup-ns", prefix)}
        ],
    }


def test_cluster_scoped_objects_only_with_the_prefix_and_never_more_power(workshop) -> None:
    _, learners = workshop
    me = learners[1]
    rbac = client.RbacAuthorizationV1Api(api_of(me))
    core = client.CoreV1Api(api_of(me))
    # without the prefix: the admission policy says no
    with pytest.raises(ApiException) as refused:
        rbac.create_cluster_role_binding(_crb("sneaky", "system:auth-delegator", me.prefix))
    assert refused.value.status == 403 and "you may only change" in refused.value.body, (
        refused.value.body
    )
    # with the prefix, a role the learner holds entirely: fine
    ok = f"{me.prefix}-controller-ns-auth-delegator"
    rbac.create_cluster_role_binding(_crb(ok, "system:auth-delegator", me.prefix))
    rbac.delete_cluster_role_binding(ok)
    # with the prefix but cluster-admin: RBAC's escalation check says no
    with pytest.raises(ApiException) as escalation:
        rbac.create_cluster_role_binding(_crb(f"{me.prefix}-admin", "cluster-admin", me.prefix))
    assert escalation.value.status == 403, escalation.value.body
    message = json.loads(escalation.value.body)["message"]
    assert "permissions not currently held" in message, message
    # namespaces: only with the prefix
    assert status_of(lambda: core.create_namespace({"metadata": {"name": "not-mine"}})) == 403
    demo = names.ns("controller-ns-demo", me.prefix)
    psa = {"pod-security.kubernetes.io/enforce": "baseline"}
    core.create_namespace({"metadata": {"name": demo, "labels": psa}})
    core.delete_namespace(demo)


def test_the_workshops_own_objects_are_out_of_reach(workshop) -> None:
    _, learners = workshop
    me = learners[2]
    api = api_of(me)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    ns = names.ns("controller-ns", me.prefix)
    home = f"{me.prefix}-{policy.HOME}"
    statuses = {
        "delete the RoleBinding that lets me work": status_of(
            lambda: rbac.delete_namespaced_role_binding("sa-course-workshop-learner", ns)
        ),
        "delete the quota": status_of(
            lambda: core.delete_namespaced_resource_quota("sa-course-workshop", ns)
        ),
        "delete my namespace": status_of(lambda: core.delete_namespace(ns)),
        "switch Pod Security off": status_of(
            lambda: core.patch_namespace(
                ns, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
            )
        ),
        "mint a token for `learner`": status_of(
            lambda: core.create_namespaced_service_account_token(
                policy.LEARNER,
                home,
                client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
            )
        ),
        "read the anchor": status_of(lambda: core.read_namespaced_secret("learner-anchor", home)),
    }
    assert set(statuses.values()) == {403}, statuses
    # labelling is allowed while Pod Security stays on (notebook 12 sets baseline itself)
    ns = names.ns("become-ns", me.prefix)
    core.patch_namespace(
        ns, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    )
    privileged = busybox_pod("root")
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert status_of(lambda: core.create_namespaced_pod(ns, privileged)) in (403, 422)


def test_an_account_the_learner_made_all_powerful_stays_inside(workshop, course: Course) -> None:
    """Notebook 11 makes cluster-admin of a ServiceAccount, in its namespace: still fenced."""
    _, learners = workshop
    me, other = learners[3], learners[4]
    api = api_of(me)
    ns = names.ns("audit-bad", me.prefix)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "ci-bot"}})
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "ci-bot-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "ci-bot", "namespace": ns}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "ci-bot",
        ns,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    ).status.token
    bot = course.client_for_token(token)
    bot_core, bot_rbac = client.CoreV1Api(bot), client.RbacAuthorizationV1Api(bot)
    # admin of its namespace, once the authorizer's cache has the new binding (a moment on a
    # loaded machine: the floor run once saw 403 right after the create)
    poll_until(
        lambda: status_of(lambda: bot_core.list_namespaced_secret(ns)) == 200,
        timeout=30,
        what="the bot's new RoleBinding to take effect",
    )
    assert (
        status_of(lambda: bot_core.list_namespaced_secret(names.ns("audit-bad", other.prefix)))
        == 403
    )
    assert status_of(bot_core.list_secret_for_all_namespaces) == 403
    assert (
        status_of(lambda: bot_rbac.delete_namespaced_role_binding("sa-course-workshop-learner", ns))
        == 403
    )
    assert (
        status_of(
            lambda: bot_rbac.create_cluster_role_binding(
                _crb("bot-admin", "cluster-admin", me.prefix)
            )
        )
        == 403
    )


def test_cut_off_one_learner_then_reset(workshop) -> None:
    ws, learners = workshop
    victim, bystander = learners[5 % N], learners[0]
    ns = names.ns("setup-ns", victim.prefix)
    client.CoreV1Api(api_of(victim)).create_namespaced_config_map(
        ns, {"metadata": {"name": "left"}}
    )
    old_token = victim.kubeconfig.read_text()
    code, _ = signin.issue_code(ws.admin.core, victim.prefix, 3600)  # handed out, not used
    started = time.monotonic()
    ws.cut_off(victim.prefix)
    while status_with(ws.admin, _token(victim)) != 401:
        assert time.monotonic() - started < 20, (
            "a cut-off learner's token should die within seconds"
        )
        time.sleep(0.5)
    print(f"\ncut off: 401 after {time.monotonic() - started:.1f}s")
    assert status_with(ws.admin, _token(bystander)) == 201, "the others carry on"
    with pytest.raises(signin.Refused, match="not valid"):  # the code died with the anchor
        signin.SignIn(ws.admin.authn, ws.existing()).check(code.reveal())
    fresh = ws.reset(victim.prefix, 3600)
    assert fresh.kubeconfig.read_text() != old_token
    assert status_with(ws.admin, _token(fresh)) == 201
    names_left = {c.metadata.name for c in ws.admin.core.list_namespaced_config_map(ns).items}
    assert "left" not in names_left, "reset empties the learner's namespaces"
    learners[5 % N] = fresh


def test_a_sign_in_code_signs_in_once_and_never_reaches_the_api(workshop) -> None:
    """Issue 22's sign-in: a code is the learner's token for the hub's audience, checked by
    TokenReview for that audience; it signs in once, as its learner only, and the API server
    refuses it (another audience)."""
    ws, learners = workshop
    me, other = learners[1], learners[2]
    hub = signin.SignIn(ws.admin.authn, ws.existing())
    code, _ = signin.issue_code(ws.admin.core, me.prefix, 3600)
    assert code.claims["aud"] == [signin.HUB_AUDIENCE] and code.claims.get("jti")
    assert status_with(ws.admin, code) == 401, "the API server does not take a code"
    assert hub.check(code.reveal()) == me.prefix
    with pytest.raises(signin.Refused, match="used already"):
        hub.check(code.reveal())
    # a learner's kubeconfig token is for the API server, not for the hub
    with pytest.raises(signin.Refused, match="not valid"):
        hub.check(_token(other))
    # a code of a learner the hub was not told about (another workshop's, say)
    second, _ = signin.issue_code(ws.admin.core, other.prefix, 3600)
    with pytest.raises(signin.Refused, match="not valid"):
        signin.SignIn(ws.admin.authn, [me.prefix]).check(second.reveal())
    for garbage in ("", "letmein", code.reveal()[:-4] + "AAAA"):
        with pytest.raises(signin.Refused, match="not valid"):
            hub.check(garbage)


def _token(learner: Learner) -> str:
    from helpers.workshop.kubeconfigs import LearnerFile

    return LearnerFile(learner.kubeconfig).token


def test_progress_reaches_the_board_and_only_ones_own(workshop) -> None:
    from helpers.labs import progress
    from helpers.workshop.board import board

    ws, learners = workshop
    me, other = learners[0], learners[1]
    core = client.CoreV1Api(api_of(me))
    body = {"data": {"lab04.q2": progress.value("Correct", 1)}}
    core.patch_namespaced_config_map(progress.CONFIGMAP, progress.home(me.prefix), body)
    assert (
        status_of(
            core.patch_namespaced_config_map, progress.CONFIGMAP, progress.home(other.prefix), body
        )
        == 403
    )
    table = board(ws)
    assert table.loc[me.prefix, "lab04.q2"] == "✓?", "self-reported until --verify sees it"
    assert table.loc[other.prefix, "lab04.q2"] == "·"


def test_verify_rechecks_the_cluster_as_the_instructor(workshop) -> None:
    from helpers.workshop.board import questions, verify

    ws, _ = workshop
    table = verify(ws)
    assert list(table.columns) == questions() and len(table) == N
    assert set(table.to_numpy().ravel()) <= {"✓", "✗", "—"}
    # nothing was set up: what only the cluster decides is not solved; the rest needs answers
    assert {"✗", "—"} <= set(table.to_numpy().ravel())


def test_preflight_for_the_instructor_and_for_a_learner(workshop, course: Course) -> None:
    from helpers.workshop import preflight

    _, learners = workshop
    lines = preflight.instructor(course, learners=N)
    assert all(line.ok for line in lines), [line.text for line in lines]
    assert any("Kubernetes v1." in line.text for line in lines)
    mine = preflight.learner(learners[0].kubeconfig)
    assert all(line.ok is not False for line in mine), [line.text for line in mine]
    assert any("clock skew" in line.text for line in mine)
    assert any("permissions the course needs" in line.text for line in mine)


def test_status_lists_every_learner(workshop) -> None:
    ws, _ = workshop
    table = ws.status()
    assert len(table) == N and table["token valid"].all()
    assert set(table["namespaces"]) == {len(policy.precreated()) + 1}


def test_down_revokes_every_kubeconfig(workshop) -> None:
    ws, learners = workshop
    tokens = [_token(lr) for lr in learners]
    started = time.monotonic()
    proof = ws.down(wait=False)  # the namespace controller finishes on its own
    print(f"\ndown in {time.monotonic() - started:.1f}s")
    assert list(proof["status"]) == [401] * N
    assert all(status_with(ws.admin, t) == 401 for t in tokens)
    ours = policy.object_name(NAME, "")
    assert not [
        r for r in ws.admin.rbac.list_cluster_role().items if r.metadata.name.startswith(ours)
    ]
    assert not [
        b
        for b in ws.admin.rbac.list_cluster_role_binding().items
        if b.metadata.name.startswith(ours)
    ]
    assert not ws.existing()
