"""The README's test command: every test, notebook and lab, on every backend this machine runs.

``make test`` runs this script. It runs the tests that need no cluster once, then the
cluster suite (cluster tests, checker tests, every notebook and lab under nbval) once per
backend:

- ``local``: the course's own cluster (Linux and root);
- ``kubeconfig``: the same notebooks through the kubeconfig backend, pointed at the local
  cluster the way an instructor's existing cluster would be used (its control plane out
  of sight, an identity that holds exactly the course's ClusterRole);
- ``workshop``: the course as a classroom on the local cluster: ``WORKSHOP_LEARNERS``
  learners (6) set up by ``helpers.workshop``, and every notebook and lab (with the
  solutions) run as those learners at once, one pytest-xdist worker per learner with its
  own kubeconfig; then ``down``, which proves every kubeconfig gets 401;
- ``kind``: a kind cluster. Where no Docker engine answers but this is a Debian machine we
  may set up (root, apt-get), ``.ci/docker-host/ensure`` installs and starts one first —
  the test-only accommodation of our CI machines, never part of ``make lab``.

A backend this machine cannot run (not root, no Docker and no way to start one) is
reported as *not run* with the reason; one that should run and fails is a failure.
Clusters this script started are stopped afterwards unless ``KEEP=1`` (a cluster that was
already running is left running). ``COURSE_TEST_BACKENDS=local,kind`` picks backends.

    python tests/run.py [--backends local,kubeconfig,kind] [pytest args …]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NBVAL = ["--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider"]
#: Tests that need no cluster: helper unit tests and doctests, the course's files.
OFFLINE = [
    "tests/unit",
    "tests/test_course_files.py",
    "tests/test_cluster_independence.py",
    "helpers",
]
#: What every backend runs.
ON_A_CLUSTER = ["tests/cluster", "tests/labs", "notebooks", "labs"]
#: Cluster tests that start and stop one backend's cluster; run only on that backend.
LIFECYCLE = {
    "local": "tests/cluster/test_lifecycle.py",
    "kind": "tests/cluster/test_kind_lifecycle.py",
}
ALL_BACKENDS = ("local", "kubeconfig", "workshop", "kind")
#: Learners of the workshop run (tests/run.py), one pytest-xdist worker each.
LEARNERS = int(os.environ.get("WORKSHOP_LEARNERS", "6"))
DOCKER_HOST = ROOT / ".ci" / "docker-host" / "ensure"


@dataclass
class Outcome:
    name: str
    status: str  # passed | FAILED | not run
    seconds: float = 0.0
    why: str = ""


@dataclass
class Run:
    keep: bool
    pytest_args: list[str]
    outcomes: list[Outcome] = field(default_factory=list)

    def record(self, name: str, status: str, started: float, why: str = "") -> bool:
        self.outcomes.append(Outcome(name, status, time.monotonic() - started, why))
        return status == "passed"


def say(message: str) -> None:
    print(f"\n=== {message}", flush=True)


def env_for(backend: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "COURSE_BACKEND": backend, **extra}


def cluster_cmd(command: str, backend: str, **extra: str) -> int:
    return subprocess.call([PY, "-m", "helpers.cluster", command], env=env_for(backend, **extra))


def pytest(paths: list[str], env: dict[str, str], args: list[str]) -> int:
    cmd = [PY, "-m", "pytest", *NBVAL, "--durations=12", *args, *paths]
    return subprocess.call(cmd, cwd=ROOT, env=env)


#: Through the kubeconfig backend the identity holds only the course's ClusterRole, which
#: reaches the course's own namespaces: every notebook and lab, as a learner runs them
#: (the checker and cluster tests seed namespaces of their own, as the admin).
AS_COURSE_USER = ["notebooks", "labs", "tests/labs/test_labs_solved.py"]


def suite(backend: str) -> list[str]:
    """The paths the cluster suite runs on ``backend``."""
    if backend == "kubeconfig":
        return AS_COURSE_USER
    lifecycle = set(LIFECYCLE.values())
    paths = [p for p in ON_A_CLUSTER if p != "tests/cluster"]
    cluster_tests = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests" / "cluster").glob("test_*.py")
        if str(p.relative_to(ROOT)) not in lifecycle
    )
    own = LIFECYCLE.get(backend)
    if own and (ROOT / own).is_file():
        cluster_tests.append(own)  # last: it stops and restarts the cluster
    return cluster_tests + paths


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


# -- one backend ---------------------------------------------------------------------


def run_on(run: Run, backend: str, env: dict[str, str]) -> bool:
    started = time.monotonic()
    say(f"{backend}: every cluster test, checker test, notebook and lab")
    # tests of the local cluster's own machinery are not collected elsewhere (never skipped)
    only = [] if backend == "local" else ["-m", "not local_only"]
    rc = pytest(suite(backend), env, [*only, *run.pytest_args])
    if rc == 5:
        return run.record(backend, "FAILED", started, "pytest collected no tests")
    return run.record(backend, "passed" if rc == 0 else "FAILED", started, f"pytest exit {rc}")


def with_cluster(run: Run, backend: str, body) -> bool:
    """Start (or reuse) ``backend``'s cluster, run ``body()``, stop it unless it was running."""
    started = time.monotonic()
    was_running = cluster_cmd("running", backend) == 0
    if cluster_cmd("up", backend) != 0:
        return run.record(backend, "FAILED", started, "the cluster did not start")
    try:
        return body()
    finally:
        if was_running or run.keep:
            print(f"keeping the {backend} cluster running (make cluster-down stops it)")
        else:
            cluster_cmd("down", backend)


def kubeconfig_run(run: Run) -> bool:
    """The cluster suite through the kubeconfig backend, on the running local cluster."""
    from existing_cluster import course_user_kubeconfig

    started = time.monotonic()
    try:
        path = course_user_kubeconfig()
    except Exception as exc:  # one line: what failed
        return run.record("kubeconfig", "FAILED", started, f"no course-user kubeconfig: {exc}")
    env = env_for("kubeconfig", COURSE_KUBECONFIG=str(path))
    return run_on(run, "kubeconfig", env)


def workshop_run(run: Run) -> bool:
    """Every notebook and lab as N learners of one workshop, concurrently, on the local cluster."""
    from helpers.course import connect
    from helpers.workshop import Workshop

    started = time.monotonic()
    say(f"workshop: {LEARNERS} learners, every notebook and lab as a learner, at once")
    os.environ["COURSE_BACKEND"] = "local"
    try:
        ws = Workshop(connect(start=False), "ci")
        if ws.existing():
            ws.down()
        ws.up(LEARNERS, 2 * 3600)
    except Exception as exc:  # one line: what failed
        os.environ.pop("COURSE_BACKEND", None)
        return run.record("workshop", "FAILED", started, f"workshop up failed: {exc}")
    os.environ.pop("COURSE_BACKEND", None)
    env = env_for("kubeconfig", WORKSHOP_KUBECONFIGS=str(ws.dir))
    xdist = ["-n", str(LEARNERS), "--dist", "loadfile", "-m", "not local_only"]
    rc = pytest(AS_COURSE_USER, env, [*xdist, *run.pytest_args])
    board_ok = check_board(ws)
    try:
        proof = ws.down(wait=False)  # every kubeconfig 401; namespaces go on their own
        print(proof.to_string(index=False))
    except Exception as exc:
        return run.record("workshop", "FAILED", started, f"workshop down: {exc}")
    ok = rc == 0 and board_ok
    return run.record("workshop", "passed" if ok else "FAILED", started, f"pytest exit {rc}")


def check_board(ws) -> bool:
    """The board shows what the checks recorded: every lab question solved by some learner."""
    from helpers.workshop.board import board, questions

    table = board(ws)
    print(table.to_string())
    unsolved = [q for q in questions() if not (table[q] == "✓").any()]
    if unsolved:
        print(f"error: the board shows no learner solving {', '.join(unsolved)}")
    return not unsolved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    wanted = os.environ.get("COURSE_TEST_BACKENDS", ",".join(ALL_BACKENDS))
    parser.add_argument("--backends", default=wanted, help="comma-separated, in this order")
    parser.add_argument("--no-offline", action="store_true", help="skip the no-cluster tests")
    args, pytest_args = parser.parse_known_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(ALL_BACKENDS)
    if unknown:
        print(f"error: unknown backend(s) {sorted(unknown)}: use {', '.join(ALL_BACKENDS)}")
        return 2
    run = Run(keep=bool(os.environ.get("KEEP")), pytest_args=pytest_args)
    t0 = time.monotonic()

    if not args.no_offline:
        started = time.monotonic()
        say("tests that need no cluster: helpers, doctests, the course's files")
        rc = pytest(OFFLINE, dict(os.environ), pytest_args)
        run.record("no cluster", "passed" if rc == 0 else "FAILED", started, f"pytest exit {rc}")

    local_why = why_not_local()
    on_local = ("local", "kubeconfig", "workshop")
    if any(b in backends for b in on_local):
        if local_why:
            for name in on_local:
                if name in backends:
                    run.record(name, "not run", time.monotonic(), local_why)
        else:

            def local_and_kubeconfig() -> bool:
                ok = True
                if "local" in backends:
                    ok &= run_on(run, "local", env_for("local"))
                if "kubeconfig" in backends:
                    ok &= kubeconfig_run(run)
                if "workshop" in backends:
                    ok &= workshop_run(run)
                return ok

            with_cluster(run, "local", local_and_kubeconfig)

    if "kind" in backends:
        started = time.monotonic()
        try:
            kind_why = why_not_kind()
        except RuntimeError as exc:
            run.record("kind", "FAILED", started, str(exc))
        else:
            if kind_why:
                run.record("kind", "not run", started, kind_why)
            else:
                with_cluster(run, "kind", lambda: run_on(run, "kind", env_for("kind")))

    say(f"summary ({(time.monotonic() - t0) / 60:.1f} min in all)")
    for o in run.outcomes:
        print(f"  {o.name:<12} {o.status:<8} {o.seconds / 60:5.1f} min  {o.why}")
    failed = [o for o in run.outcomes if o.status == "FAILED"]
    ran = [o for o in run.outcomes if o.status == "passed"]
    if not ran:
        print("error: no backend could run here; see the reasons above")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    sys.exit(main())
