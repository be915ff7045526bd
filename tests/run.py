"""The README's test command: every test, notebook and lab, on every backend this machine runs.

``make test`` runs this script. It runs the tests that need no cluster once, then the
cluster suite (cluster tests, checker tests, every notebook and lab under nbval) once per
run, each run's files spread over pytest-xdist workers (``COURSE_TEST_WORKERS``, 4: every
notebook, lab and cluster-test module makes its own namespaces):

- ``local``: the course's own cluster at the newest Kubernetes (Linux and root);
- ``kubeconfig``: the same notebooks through the kubeconfig backend, pointed at the local
  cluster the way an instructor's existing cluster would be used (its control plane out
  of sight, an identity that holds exactly the course's ClusterRole);
- ``workshop``: the course as a classroom on the local cluster: ``WORKSHOP_LEARNERS``
  learners (6) set up by ``helpers.workshop``, and every notebook and lab (with the
  solutions) run as those learners at once, one worker per learner with its own
  kubeconfig; then ``down``, which proves every learner credential gets 401; then the
  ``hub`` run: the browser classroom in headless Chromium (``tests/cluster/test_hub.py``),
  and ``hub (kubeconfig)``, the same beside the local cluster as an existing one;
- ``floor``: the local cluster again, at the oldest Kubernetes the course supports
  (:data:`helpers.cluster.versions.FLOOR`): every notebook, lab and cluster test that is
  not about one backend's machinery;
- ``kind``: a kind cluster at the newest Kubernetes, every test but those that judge
  only the API server's answers (marker ``api_only``, proven on local at both ends); then
  ``hub (kind)``, the browser classroom's tests beside kind (this machine routes to the
  node's Pods: :mod:`helpers.cluster.podnetwork`), then the workshop's isolation and
  attack suites with each learner's JupyterLab Pod token. Where
  no Docker engine answers but this is a Debian machine we may set up (root, apt-get),
  ``.ci/docker-host/ensure`` installs and starts one first — the test-only accommodation
  of our CI machines, never part of ``make lab``.

The local runs (local, kubeconfig, workshop, then floor) and the kind run go side by side
(``COURSE_TEST_CONCURRENT=0`` runs them one after the other). Each run writes its own log;
the summary gives each run's time, and the log of any run that failed is printed.

A backend this machine cannot run (not root, no Docker and no way to start one) is
reported as *not run* with the reason; one that should run and fails is a failure.
Clusters this script started are stopped afterwards unless ``KEEP=1`` (a cluster that was
already running is left running). ``COURSE_TEST_BACKENDS=local,kind`` picks runs.

    python tests/run.py [--backends local,kubeconfig,workshop,floor,kind] [pytest args …]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import executed  # noqa: E402  (tests/executed.py)

from helpers.cluster import versions  # noqa: E402

PY = sys.executable
NBVAL = ["--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider"]
#: Tests that need no cluster: helper unit tests and doctests, the course's files.
OFFLINE = [
    "tests/unit",
    "tests/test_course_files.py",
    "tests/test_cluster_independence.py",
    "helpers",
]
#: Where every run looks; markers (pyproject.toml) say what each run selects there. The
#: order matters: each lab runs as the learner first sees it (``labs``: Not attempted) and
#: then solved (``tests/labs``), so the workshop board's last word is the solution's.
ON_A_CLUSTER = ["tests/cluster", "notebooks", "labs", "tests/labs"]
ALL_RUNS = ("local", "kubeconfig", "workshop", "floor", "kind")
#: Learners of the workshop run, one pytest-xdist worker each.
LEARNERS = int(os.environ.get("WORKSHOP_LEARNERS", "6"))
WORKERS = int(os.environ.get("COURSE_TEST_WORKERS", "4"))
#: Workers of the floor run, which mostly has the machine to itself (kind is done by then):
#: its tests wait on the cluster far more than they compute.
FLOOR_WORKERS = int(os.environ.get("COURSE_TEST_FLOOR_WORKERS", "6"))
DOCKER_HOST = ROOT / ".ci" / "docker-host" / "ensure"
BROWSER = ROOT / ".ci" / "browser" / "ensure"
#: Re-run with each learner's JupyterLab Pod's token: in the hub (kind) run, else the hub run.
IN_POD_SUITES = ["tests/cluster/test_workshop.py", "tests/cluster/test_workshop_attacks.py"]
FLOOR = ".".join(map(str, versions.FLOOR))
#: The local run's notebooks and labs as it executed them: the rendered edition's source.
EXECUTED = ROOT / "build" / "executed"


@dataclass
class Outcome:
    name: str
    status: str  # passed | FAILED | not run
    seconds: float = 0.0
    why: str = ""
    log: Path | None = None


@dataclass
class Run:
    keep: bool
    pytest_args: list[str]
    logs: Path
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Why kind does not run here ('' : it runs), decided before the chains start, so the
    #: local chain knows whether the in-Pod suites run beside kind or must run on local.
    kind_why: str = "not asked for"
    t0: float = field(default_factory=time.monotonic)

    def record(
        self, name: str, status: str, started: float, why: str = "", log: Path | None = None
    ) -> bool:
        with self.lock:
            self.outcomes.append(Outcome(name, status, time.monotonic() - started, why, log))
        say(f"{name}: {status} in {(time.monotonic() - started) / 60:.1f} min {why}".rstrip())
        return status == "passed"


_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        print(f"=== {message}", flush=True)


def env_for(backend: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "COURSE_BACKEND": backend, **extra}


def call(cmd: list[str], env: dict[str, str], log: IO[str] | None) -> int:
    """Run ``cmd`` from the repository root, its output to ``log`` (or this terminal)."""
    if log is None:
        return subprocess.call(cmd, cwd=ROOT, env=env)
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    return subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def cluster_cmd(command: str, env: dict[str, str], log: IO[str] | None = None) -> int:
    return call([PY, "-m", "helpers.cluster", command], env, log)


_REPORTS = itertools.count(1)


def pytest(paths: list[str], env: dict[str, str], args: list[str], log: IO[str] | None) -> int:
    # each run's JUnit XML beside its log: every test's time, for `tests/timings.py`
    xml = Path(log.name).with_suffix(f".{next(_REPORTS)}.xml") if log else None
    report = ["--junitxml", str(xml)] if xml else []
    return call([PY, "-m", "pytest", *NBVAL, "--durations=12", *report, *args, *paths], env, log)


def selection(backend: str, *, own_machinery: bool = True, teardown: bool = False) -> str:
    """The ``-m`` expression of a run on ``backend`` (markers: pyproject.toml).

    - through the kubeconfig backend (and in the workshop run) the identity holds only the
      course's ClusterRole: what a learner runs (``as_learner``: every notebook and lab,
      and each lab solved); the checker and cluster tests seed namespaces as the admin;
    - ``teardown`` tests stop and restart the cluster: alone, after the rest;
    - ``local_only`` / ``kind_only``: about one backend's own machinery, only on that
      backend's main run (``own_machinery``; not on the floor version);
    - ``api_only`` (the lab checkers against every right and wrong answer) judge only the
      API server: kind's node runs the same Kubernetes build as the newest local cluster,
      so they would prove nothing new there (and cost a third of its run).

    >>> selection("kind")
    'not teardown and not browser and not local_only and not api_only'
    >>> selection("local", own_machinery=False)
    'not teardown and not browser and not local_only and not kind_only'
    """
    if backend == "kubeconfig":
        return "as_learner and not teardown"
    parts = ["teardown" if teardown else "not teardown", "not browser"]
    if backend != "local" or not own_machinery:
        parts.append("not local_only")
    if backend != "kind" or not own_machinery:
        parts.append("not kind_only")
    if backend == "kind":
        parts.append("not api_only")
    return " and ".join(parts)


def with_marker(expression: str, args: list[str]) -> list[str]:
    """``-m expression``, joined with a ``-m`` the caller passed (pytest keeps only the last)."""
    rest, mine = list(args), expression
    while "-m" in rest:
        i = rest.index("-m")
        mine = f"({mine}) and ({rest[i + 1]})"
        del rest[i : i + 2]
    return ["-m", mine, *rest]


def xdist(workers: int) -> list[str]:
    return ["-n", str(workers), "--dist", "loadgroup"] if workers > 1 else []


# -- can this machine run a backend? --------------------------------------------------


def why_not_local() -> str:
    if platform.system() != "Linux":
        return "the local cluster needs Linux"
    if os.geteuid() != 0:
        return "the local cluster needs root"
    return ""


def docker_answers() -> bool:
    from helpers.cluster.kind import docker_available

    return docker_available()


def why_not_kind() -> str:
    """Empty if kind can run here; on a Debian machine we may set up, prepare the Docker host.

    ``.ci/docker-host/ensure`` is idempotent (0.2 s when all is in place): it installs and
    starts Debian's Docker engine where none answers, with the capability wrapper this
    machine needs, and mmdebstrap for the offline node image.
    """
    ours = platform.system() == "Linux" and os.geteuid() == 0 and shutil.which("apt-get")
    if ours:
        if not docker_answers():
            say("no Docker engine answers: starting the test-only one (.ci/docker-host/ensure)")
        if subprocess.call([str(DOCKER_HOST)]) != 0 or not docker_answers():
            raise RuntimeError(".ci/docker-host/ensure could not prepare Docker (see above)")
        return ""
    if docker_answers():
        return ""
    return "no Docker engine answers (and this is not a Debian machine we may set one up on)"


# -- one run ---------------------------------------------------------------------------


def open_log(run: Run, name: str) -> tuple[IO[str], Path]:
    path = run.logs / f"{name}.log"
    return path.open("a"), path


def run_on(
    run: Run,
    name: str,
    backend: str,
    env: dict[str, str],
    lifecycle: bool = True,
    workers: int = WORKERS,
) -> bool:
    """One run's suite; with ``lifecycle``, then the backend's life-cycle tests alone."""
    started = time.monotonic()
    say(f"{name}: every cluster test, checker test, notebook and lab ({backend})")
    log, path = open_log(run, name)
    with log:
        # tests of one backend's own machinery are selected on its main run only (never skipped)
        own = name == backend
        parallel = with_marker(selection(backend, own_machinery=own), run.pytest_args)
        rc = pytest(ON_A_CLUSTER, env, [*xdist(workers), *parallel], log)
        if rc == 0 and lifecycle and backend != "kubeconfig":
            last = with_marker(selection(backend, teardown=True), run.pytest_args)
            rc = pytest(ON_A_CLUSTER, env, last, log)
    if rc == 5:
        return run.record(name, "FAILED", started, "pytest collected no tests", path)
    return run.record(name, "passed" if rc == 0 else "FAILED", started, f"pytest exit {rc}", path)


def edition_run(run: Run) -> bool:
    """``make book`` from the local run's executed notebooks: the site, and its credential scan."""
    started = time.monotonic()
    say("edition: the rendered edition from the local run's notebooks (make book)")
    log, path = open_log(run, "edition")
    with log:
        rc = call([PY, "-m", "tools.edition", "--no-execute"], env_for("local"), log)
        if rc == 0:  # then in a real browser (.ci/browser/ensure: test-only, like docker-host)
            rc = call([str(BROWSER)], env_for("local"), log)
        if rc == 0:
            shots = {"EDITION_SCREENSHOTS": str(run.logs / "edition-screenshots")}
            rc = pytest(["tests/test_edition_site.py"], env_for("local", **shots), [], log)
    return run.record("edition", "passed" if rc == 0 else "FAILED", started, f"exit {rc}", path)


def lifecycle_run(run: Run, backend: str, env: dict[str, str]) -> bool:
    """The life-cycle tests of ``backend`` (they stop and restart its cluster): alone, last."""
    started = time.monotonic()
    log, path = open_log(run, f"{backend}-lifecycle")
    with log:
        last = with_marker(selection(backend, teardown=True), run.pytest_args)
        rc = pytest(ON_A_CLUSTER, env, last, log)
    name = f"{backend} life cycle"
    return run.record(name, "passed" if rc == 0 else "FAILED", started, f"pytest exit {rc}", path)


def side_by_side(jobs: list[Callable[[], bool]]) -> bool:
    """Run ``jobs`` in threads at once (one after the other with COURSE_TEST_CONCURRENT=0)."""
    results: list[bool] = []
    if os.environ.get("COURSE_TEST_CONCURRENT", "1") == "0":
        return all(job() for job in jobs)
    threads = [threading.Thread(target=lambda j=j: results.append(j())) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(results) == len(jobs) and all(results)


def with_cluster(
    run: Run, name: str, env: dict[str, str], body: Callable[[], bool], stop_others: bool = False
) -> bool:
    """Start (or reuse) the cluster ``env`` names, run ``body()``, stop it unless it was running.

    ``stop_others``: a local cluster of another Kubernetes version is stopped first (the
    local cluster has one state directory and one set of ports).
    """
    started = time.monotonic()
    log, path = open_log(run, f"{name}-cluster")
    with log:
        was_running = cluster_cmd("running", env, log) == 0
        if stop_others and was_running:
            cluster_cmd("down", env, log)
            was_running = False
        if cluster_cmd("up", env, log) != 0:
            return run.record(name, "FAILED", started, "the cluster did not start", path)
    try:
        return body()
    finally:
        with path.open("a") as log:
            if was_running or run.keep:
                say(f"keeping the {name} cluster running (make cluster-down stops it)")
            else:
                cluster_cmd("down", env, log)


def kubeconfig_run(run: Run) -> bool:
    """The cluster suite through the kubeconfig backend, on the running local cluster."""
    from existing_cluster import course_user_kubeconfig

    started = time.monotonic()
    try:
        path = course_user_kubeconfig("local")
    except Exception as exc:  # one line: what failed
        return run.record("kubeconfig", "FAILED", started, f"no course-user kubeconfig: {exc}")
    env = env_for("kubeconfig", COURSE_KUBECONFIG=str(path))
    return run_on(run, "kubeconfig", "kubeconfig", env)


def workshop_run(run: Run) -> bool:
    """Every notebook and lab as N learners of one workshop, concurrently, on the local cluster."""
    from helpers.course import connect
    from helpers.workshop import Workshop

    started = time.monotonic()
    say(f"workshop: {LEARNERS} learners, every notebook and lab as a learner, at once")
    log, path = open_log(run, "workshop")
    with log:
        try:
            ws = Workshop(connect(start=False, backend="local"), "ci")
            if ws.existing():
                ws.down()
            ws.up(LEARNERS, 2 * 3600)
        except Exception as exc:  # one line: what failed
            return run.record("workshop", "FAILED", started, f"workshop up failed: {exc}", path)
        env = env_for("kubeconfig", WORKSHOP_KUBECONFIGS=str(ws.dir))
        args = [*xdist(LEARNERS), *with_marker(selection("kubeconfig"), run.pytest_args)]
        rc = pytest(ON_A_CLUSTER, env, args, log)
        board_ok = check_board(ws, log)
        try:
            proof = ws.down(wait=False)  # every credential 401; namespaces go on their own
            log.write(proof.to_string(index=False) + "\n")
        except Exception as exc:
            return run.record("workshop", "FAILED", started, f"workshop down: {exc}", path)
    ok = rc == 0 and board_ok
    why = f"pytest exit {rc}" + ("" if board_ok else ", the board misses a question")
    return run.record("workshop", "passed" if ok else "FAILED", started, why, path)


def hub_run(
    run: Run,
    backend: str = "local",
    in_pod: bool = True,
    only: str = "",
    env: dict[str, str] | None = None,
) -> bool:
    """The browser classroom: JupyterHub, two learners in headless Chromium, on ``backend``
    (``only``: a ``-k`` expression; ``env``: more of the environment); with ``in_pod``, then
    the isolation matrix and the attacks with the learners' Pod tokens."""
    started = time.monotonic()
    name = "hub" if backend == "local" else f"hub ({backend})"
    say(f"{name}: the browser classroom, two learners in Chromium (JupyterHub, KubeSpawner)")
    log, path = open_log(run, name.replace(" (", "-").rstrip(")"))
    rc2 = 0
    with log:
        rc = call([str(BROWSER), "driver"], env_for(backend), log)
        if rc == 0:
            shots = {"HUB_SCREENSHOTS": str(run.logs / f"{name}-screenshots".replace(" ", ""))}
            args = with_marker("browser", run.pytest_args) + (["-k", only] if only else [])
            more = {**(env or {}), **shots}
            rc = pytest(["tests/cluster/test_hub.py"], env_for(backend, **more), args, log)
        if in_pod:
            # the isolation matrix and the attacks, with the credential a browser-classroom
            # learner has: their JupyterLab Pod's token (tests/cluster/in_pod.py)
            in_pods = env_for(backend, WORKSHOP_IN_POD="1")
            args = with_marker(selection(backend), run.pytest_args)
            rc2 = pytest(IN_POD_SUITES, in_pods, args, log)
    ok = rc == 0 and rc2 == 0
    why = f"browser exit {rc}" + (f", in-Pod isolation exit {rc2}" if in_pod else "")
    return run.record(name, "passed" if ok else "FAILED", started, why, path)


def existing_hub_run(run: Run) -> bool:
    """The hub beside an existing cluster: the local cluster through the kubeconfig backend
    (its admin's kubeconfig), with the image named (``HUB_IMAGE``; the hub run put it on the
    node, where a registry would serve it) and this machine's address on the Pods' network
    (``HUB_POD_ADDRESS``) given as an instructor gives them. Sign-in, notebook 01 and the
    attacks past the proxy; the other tests are the hub run's."""
    from helpers.cluster import config as cluster_config
    from helpers.cluster import current
    from helpers.workshop.hubimage import COURSE_IMAGE

    recorded = current("local")
    env = {
        "COURSE_KUBECONFIG": recorded["kubeconfig"] if recorded else "",
        "HUB_IMAGE": COURSE_IMAGE,
        "HUB_POD_ADDRESS": cluster_config.NODE_IP,
    }
    only = "holds_only or two_learners or cannot_use"
    return hub_run(run, "kubeconfig", in_pod=False, only=only, env=env)


def _lab_of(question: str) -> type:
    """The Lab class of a board column such as ``lab17.q1``."""
    import importlib

    from helpers.labs import LABS
    from helpers.labs.checks import Lab

    module = importlib.import_module(LABS[question.split(".")[0].removeprefix("lab")])
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Lab) and v is not Lab and v.question_types
    )


def check_board(ws, log: IO[str]) -> bool:
    """The board shows what the checks recorded: every lab question solved by some learner."""
    from helpers.workshop.board import board, questions

    table = board(ws)
    log.write(table.to_string() + "\n")
    # a lab a learner's checks cannot judge records nothing (lab 17: no partner API server;
    # lab 16: a learner may not run a signer)
    judged = [q for q in questions() if not _lab_of(q).unavailable_in_workshop()]
    unsolved = [q for q in judged if not table[q].isin(["✓", "✓?"]).any()]
    if unsolved:
        log.write(f"error: the board shows no learner solving {', '.join(unsolved)}\n")
    return not unsolved


# -- the chains --------------------------------------------------------------------------


def local_chain(run: Run, wanted: list[str]) -> None:
    local_why = why_not_local()
    mine = [b for b in ("local", "kubeconfig", "workshop", "floor") if b in wanted]
    if local_why:
        for name in mine:
            run.record(name, "not run", time.monotonic(), local_why)
        return
    newest = [b for b in mine if b != "floor"]
    if newest:
        env = env_for("local")
        env.pop(versions.ENV, None)

        def on_newest() -> bool:
            # one suite after the other (side by side they overload a 2-core machine: each
            # took 2-3 times as long, and the namespace controller fell behind); the local
            # cluster's life cycle last, as it restarts the cluster
            ok = True
            if "local" in newest:
                shutil.rmtree(EXECUTED, ignore_errors=True)  # one run's notebooks, no older
                keep = {**env, executed.ENV: str(EXECUTED)}
                ok &= run_on(run, "local", "local", keep, lifecycle=False)
                executed.record_run(EXECUTED, env)
                ok &= edition_run(run)
            if "kubeconfig" in newest:
                ok &= kubeconfig_run(run)
            if "workshop" in newest:
                ok &= workshop_run(run)
                # the in-Pod suites run beside kind where it runs (that chain is shorter)
                ok &= hub_run(run, in_pod=bool(run.kind_why))
                ok &= existing_hub_run(run)
            if "local" in newest:
                ok &= lifecycle_run(run, "local", env)
            return ok

        with_cluster(run, "local", env, on_newest)
    if "floor" in mine:
        env = env_for("local", **{versions.ENV: FLOOR})
        with_cluster(
            run,
            f"floor ({FLOOR})",
            env,
            lambda: run_on(run, "floor", "local", env, lifecycle=False, workers=FLOOR_WORKERS),
            stop_others=True,
        )


def decide_kind(run: Run, wanted: list[str]) -> None:
    """Whether kind runs here (:attr:`Run.kind_why`); a Docker host that cannot be prepared
    is a failure of the kind run."""
    if "kind" not in wanted:
        return
    started = time.monotonic()
    try:
        run.kind_why = why_not_kind()
    except RuntimeError as exc:
        run.kind_why = f"FAILED: {exc}"
        run.record("kind", "FAILED", started, str(exc))
        return
    if run.kind_why:
        run.record("kind", "not run", started, run.kind_why)


def kind_chain(run: Run, wanted: list[str]) -> None:
    if run.kind_why:
        return
    env = env_for("kind")
    env.pop(versions.ENV, None)

    def on_kind() -> bool:
        ok = run_on(run, "kind", "kind", env, lifecycle=False)
        # the hub beside kind: its routes to the node's Pods, and the isolation and attack
        # suites with the learners' Pod tokens (here, where the chain has time to spare:
        # the local chain is the longer one); then kind's life cycle, which recreates it
        ok &= hub_run(run, "kind")
        return lifecycle_run(run, "kind", env) and ok

    with_cluster(run, "kind", env, on_kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    wanted = os.environ.get("COURSE_TEST_BACKENDS", ",".join(ALL_RUNS))
    parser.add_argument("--backends", default=wanted, help="comma-separated runs")
    parser.add_argument("--no-offline", action="store_true", help="skip the no-cluster tests")
    args, pytest_args = parser.parse_known_args(argv)
    runs = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(runs) - set(ALL_RUNS)
    if unknown:
        print(f"error: unknown run(s) {sorted(unknown)}: use {', '.join(ALL_RUNS)}")
        return 2
    logs = Path(tempfile.mkdtemp(prefix="sa-course-tests-"))
    run = Run(keep=bool(os.environ.get("KEEP")), pytest_args=pytest_args, logs=logs)
    say(f"logs of each run in {logs}")

    if not args.no_offline:
        started = time.monotonic()
        say("tests that need no cluster: helpers, doctests, the course's files")
        rc = pytest(OFFLINE, dict(os.environ), pytest_args, None)
        run.record("no cluster", "passed" if rc == 0 else "FAILED", started, f"pytest exit {rc}")

    decide_kind(run, runs)
    side_by_side([lambda c=c: c(run, runs) or True for c in (local_chain, kind_chain)])

    for o in run.outcomes:
        if o.status == "FAILED" and o.log and o.log.is_file():
            lines = o.log.read_text(errors="replace").splitlines()
            say(f"{o.name} FAILED: the last {min(len(lines), 250)} lines of {o.log}")
            print("\n".join(lines[-250:]), flush=True)
    say(f"summary ({(time.monotonic() - run.t0) / 60:.1f} min in all)")
    later = ("hub", "hub (kubeconfig)", "hub (kind)", "local life cycle", "kind life cycle")
    order = {n: i for i, n in enumerate(("no cluster", *ALL_RUNS, *later))}
    for o in sorted(run.outcomes, key=lambda o: order.get(o.name, 99)):
        print(f"  {o.name:<12} {o.status:<8} {o.seconds / 60:5.1f} min  {o.why}")
    failed = [o for o in run.outcomes if o.status == "FAILED"]
    ran = [o for o in run.outcomes if o.status == "passed"]
    if not ran:
        print("error: no backend could run here; see the reasons above")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
