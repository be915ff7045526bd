"""Build the local cluster's binaries from their official Go modules, once, cached.

``k8s.io/kubernetes`` and etcd's server module replace their sibling modules with relative
paths, so ``go install module/cmd@version`` cannot build them. We use the well-known
workaround: a throwaway *wrapper module* that requires the upstream module and pins each
sibling to its published version. All three projects are built the same way, each in its
own wrapper (so their dependency graphs never mix), with ``CGO_ENABLED=0``.

The module and build caches live under the course cache directory; a finished build
writes a recipe stamp next to its binaries, so a second run is a no-op in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import config, versions
from .errors import ClusterError
from .locks import file_lock
from .progress import Progress

MIN_GO = (1, 26)
#: No compile of the course's builds takes an hour on 2 cores (Kubernetes: 7-15 minutes).
BUILD_TIMEOUT = 3600
STAMP = ".recipe"


@dataclass(frozen=True)
class GoBuild:
    """How to build one upstream project's binaries from the Go module proxy."""

    name: str
    module: str
    version: str
    #: binary name -> Go package path
    binaries: dict[str, str]
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: sibling modules pinned to this version in the wrapper's replace block
    sibling_version: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def kubernetes_build(version: str | None = None) -> GoBuild:
    """kube-apiserver, kube-controller-manager, kube-scheduler and kubelet at ``version``."""
    version = version or config.KUBERNETES_VERSION
    major, minor, _ = version.split(".")
    ldflags = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        ldflags += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    names = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
    # kubeadm, kubectl and kube-proxy: the kind node image (and kube-proxy for Services)
    names += ("kubeadm", "kubectl", "kube-proxy")
    return GoBuild(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=f"v{version}",
        binaries={n: f"k8s.io/kubernetes/cmd/{n}" for n in names},
        ldflags=tuple(ldflags),
        sibling_version=f"v0.{minor}.{version.split('.')[2]}",
    )


def etcd_build(version: str | None = None) -> GoBuild:
    """The etcd server at ``version`` (default: what the chosen release's kubeadm pins)."""
    version = version or config.ETCD_VERSION
    return GoBuild(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=f"v{version}",
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
        ldflags=(f"-X go.etcd.io/etcd/api/v3/version.GitSHA=v{version}",),
    )


def containerd_build(version: str = config.CONTAINERD_VERSION) -> GoBuild:
    """containerd, its runc shim and ctr at ``version``."""
    base = "github.com/containerd/containerd/v2"
    return GoBuild(
        name="containerd",
        module=base,
        version=f"v{version}",
        binaries={n: f"{base}/cmd/{n}" for n in ("containerd", "containerd-shim-runc-v2", "ctr")},
        ldflags=(f"-X {base}/version.Version=v{version}", f"-X {base}/version.Package={base}"),
        tags=("no_btrfs", "no_devmapper", "no_zfs", "urfave_cli_no_docs"),
    )


#: crictl for the kind node image: the newest cri-tools the proxy serves.
CRICTL_VERSION = versions.CRICTL


def kind_build(version: str = config.KIND_VERSION) -> GoBuild:
    """The kind command line at ``version`` (its version string is a constant in the source)."""
    return GoBuild(
        name="kind",
        module="sigs.k8s.io/kind",
        version=version,
        binaries={"kind": "sigs.k8s.io/kind"},
    )


def crictl_build(version: str = CRICTL_VERSION) -> GoBuild:
    """crictl, the CRI client kind's node image carries, with its version ldflag."""
    return GoBuild(
        name="crictl",
        module="sigs.k8s.io/cri-tools",
        version=version,
        binaries={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
        ldflags=(f"-X sigs.k8s.io/cri-tools/pkg/version.Version={version.lstrip('v')}",),
    )


def coredns_build(version: str | None = None) -> GoBuild:
    """CoreDNS, the cluster DNS kubeadm deploys (default: the chosen release's pin)."""
    version = version or config.COREDNS_VERSION
    return GoBuild(
        name="coredns",
        module="github.com/coredns/coredns",
        version=version,
        binaries={"coredns": "github.com/coredns/coredns"},
        ldflags=(f"-X github.com/coredns/coredns/coremain.GitCommit={version}",),
    )


#: Everything the course's own kind node image is assembled from.
#: What the local cluster runs (CoreDNS is its cluster DNS).
ALL_BUILDS = (kubernetes_build, etcd_build, containerd_build, coredns_build)
#: What the offline kind node image carries (crictl too: `kind load` uses it).
KIND_NODE_BUILDS = (*ALL_BUILDS, crictl_build)


# -- the wrapper module ------------------------------------------------------------------

_REPLACE_RE = re.compile(r"^\s*(\S+)\s+(?:v\S+\s+)?=>\s+\./", re.MULTILINE)
_GO_RE = re.compile(r"^go\s+(\S+)\s*$", re.MULTILINE)
_GODEBUG_RE = re.compile(r"^godebug\s+.*$", re.MULTILINE)


#: etcd 3.5's go.mod "replaces" modules it must never import with this directory: a guard.
_GUARD = "FORBIDDEN_DEPENDENCY"


def relative_replaces(gomod: str) -> list[str]:
    """Modules that an upstream go.mod replaces with a relative path (its siblings).

    A replace with etcd's guard directory (``go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY``)
    is not a sibling.

    >>> relative_replaces("replace (\\n\\tk8s.io/api => ./staging/src/k8s.io/api\\n"
    ...                   "\\tgo.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY\\n)\\n")
    ['k8s.io/api']
    """
    guarded = set(re.findall(rf"^\s*(\S+)\s+=>\s+\./{_GUARD}\s*$", gomod, re.MULTILINE))
    return sorted(set(_REPLACE_RE.findall(gomod)) - guarded)


def wrapper_gomod(build: GoBuild, upstream_gomod: str) -> str:
    """The go.mod of the wrapper module for ``build``, given the upstream module's go.mod."""
    go_line = _GO_RE.search(upstream_gomod)
    lines = ["module local/coursebuild", "", f"go {go_line.group(1) if go_line else '1.26'}", ""]
    godebug = _GODEBUG_RE.findall(upstream_gomod)
    if godebug:
        lines += [*godebug, ""]
    lines += [f"require {build.module} {build.version}", ""]
    siblings = relative_replaces(upstream_gomod)
    if siblings:
        pin = build.sibling_version or build.version
        lines.append("replace (")
        lines += [f"\t{m} => {m} {pin}" for m in siblings]
        lines.append(")")
    return "\n".join(lines) + "\n"


def tools_go(build: GoBuild) -> str:
    """A never-compiled file that imports the binaries' packages, so ``go mod tidy`` sees them."""
    imports = "\n".join(f'\t_ "{p}"' for p in build.binaries.values())
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def build_command(build: GoBuild, out_dir: Path, jobs: int) -> list[str]:
    """The ``go build`` command line for ``build``."""
    # One package: name the file (etcd's package path ends in /v3); several: a directory.
    only = next(iter(build.binaries)) if len(build.binaries) == 1 else None
    target = str(out_dir / only) if only else f"{out_dir}/"
    cmd = ["go", "build", "-v", "-p", str(jobs), "-trimpath", "-o", target]
    cmd += ["-ldflags", " ".join(["-s", "-w", *build.ldflags])]
    if build.tags:
        cmd += ["-tags", ",".join(build.tags)]
    return cmd + list(build.binaries.values())


def recipe_hash(build: GoBuild, gomod: str) -> str:
    """A fingerprint of everything that determines the binaries."""
    blob = json.dumps([gomod, build.binaries, build.ldflags, build.tags, go_version_string()])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- Go ----------------------------------------------------------------------------------


def go_version_string() -> str:
    """``go version`` output, or a ClusterError saying how to get Go."""
    if not shutil.which("go"):
        raise ClusterError(
            "Go is not installed, and the local cluster is built from source with Go "
            f"{MIN_GO[0]}.{MIN_GO[1]} or newer: install Go (https://go.dev/dl/), or use "
            "COURSE_BACKEND=kind (needs Docker) or COURSE_BACKEND=kubeconfig (an existing cluster)."
        )
    out = subprocess.run(
        ["go", "version"], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    match = re.search(r"go(\d+)\.(\d+)", out)
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_GO:
        raise ClusterError(
            f"The local cluster needs Go {MIN_GO[0]}.{MIN_GO[1]} or newer, but `go version` says "
            f"{out.strip() or 'nothing'}: install a newer Go (https://go.dev/dl/)."
        )
    return out.strip()


def go_env(layout: config.Layout) -> dict[str, str]:
    """Environment for every go command: our own caches, static binaries, no toolchain switch."""
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(layout.gomodcache),
        GOCACHE=str(layout.gocache),
        GOFLAGS="-mod=mod",
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
    )
    return env


def _go(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=3600
    )
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(args)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = "\n".join("    " + ln for ln in proc.stderr.splitlines()[-12:])
        raise ClusterError(
            f"`{' '.join(args[:3])} …` failed while building the local cluster (log: {log}); "
            f"check your network access to the Go module proxy and run the command again:\n{tail}"
        )
    return proc.stdout


def upstream_gomod(build: GoBuild, layout: config.Layout, env: dict[str, str], log: Path) -> str:
    """Download the upstream module's go.mod (a few kB) and return its text."""
    out = _go(
        ["go", "mod", "download", "-json", f"{build.module}@{build.version}"],
        cwd=layout.cache,
        env=env,
        log=log,
    )
    return Path(json.loads(out)["GoMod"]).read_text()


# -- building ----------------------------------------------------------------------------


@dataclass
class Built:
    """Paths of the binaries one build produced."""

    build: GoBuild
    dir: Path
    paths: dict[str, Path] = field(default_factory=dict)


def is_built(build: GoBuild, layout: config.Layout) -> bool:
    """True if the binaries of ``build`` exist with a recipe stamp (cheap: no go command)."""
    out = layout.bin / build.key
    return (out / STAMP).is_file() and all((out / n).is_file() for n in build.binaries)


def ensure_built(build: GoBuild, layout: config.Layout, progress: Progress) -> Built:
    """Build ``build`` unless its binaries and stamp are already in the cache."""
    out = layout.bin / build.key
    built = Built(build, out, {n: out / n for n in build.binaries})
    if is_built(build, layout):
        return built
    lock = layout.cache / "locks" / f"build-{build.key}.lock"
    with file_lock(lock, f"building {build.name} {build.version}", progress):
        if not is_built(build, layout):  # the other process may have just built it
            _build(build, layout, progress, out)
    return built


def _build(build: GoBuild, layout: config.Layout, progress: Progress, out: Path) -> None:
    go_version_string()
    for d in (layout.gomodcache, layout.gocache, layout.src, out, layout.cache / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    env = go_env(layout)
    log = layout.cache / "logs" / f"build-{build.key}.log"
    src = layout.src / build.key
    src.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with progress.stage(f"building {build.name} {build.version} (once; cached in {layout.cache})"):
        gomod = wrapper_gomod(build, upstream_gomod(build, layout, env, log))
        (src / "go.mod").write_text(gomod)
        (src / "tools.go").write_text(tools_go(build))
        progress.say(f"  {build.name}: resolving and downloading modules")
        _go(["go", "mod", "tidy"], cwd=src, env=env, log=log)
        total = len(_go(["go", "list", "-deps", *build.binaries.values()], src, env, log).split())
        _compile(build, src, out, env, log, total, progress)
        (out / STAMP).write_text(recipe_hash(build, gomod) + "\n")
    _record_build_time(layout, build, time.monotonic() - started)


def _times_file(layout: config.Layout) -> Path:
    return layout.cache / "build-times.json"


def _record_build_time(layout: config.Layout, build: GoBuild, seconds: float) -> None:
    try:
        times = json.loads(_times_file(layout).read_text())
    except (OSError, ValueError):
        times = {}
    times[build.key] = round(seconds, 1)
    _times_file(layout).write_text(json.dumps(times, indent=2))


def recorded_cold_build_seconds(layout: config.Layout) -> float | None:
    """How long building every binary took when it last happened here, if recorded."""
    try:
        times = json.loads(_times_file(layout).read_text())
        return sum(times[make().key] for make in ALL_BUILDS)
    except (OSError, ValueError, KeyError):
        return None


def _compile(
    build: GoBuild,
    src: Path,
    out: Path,
    env: dict[str, str],
    log: Path,
    total: int,
    progress: Progress,
) -> None:
    """Run go build, printing how many packages were compiled every 20 seconds."""
    cmd = build_command(build, out, jobs=max(1, os.cpu_count() or 1))
    count = 0
    done = threading.Event()

    def report() -> None:
        while not done.wait(20):
            progress.say(f"  {build.name}: compiled {count} of at most {total} packages")

    ticker = threading.Thread(target=report, daemon=True)
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, cwd=src, env=env, stderr=subprocess.PIPE, text=True)
        ticker.start()
        tail: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            fh.write(line)
            count += 1
            tail = [*tail[-11:], line.rstrip()]
        try:
            rc = proc.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -1
            tail.append(f"(stopped: still compiling after {BUILD_TIMEOUT // 60} minutes)")
        done.set()
    if rc != 0:
        lines = "\n".join("    " + ln for ln in tail)
        raise ClusterError(
            f"Compiling {build.name} {build.version} failed (full log: {log}); the last lines "
            f"are below. Run `make cluster-up` again; if it fails the same way, report it:\n{lines}"
        )


def check_pins(layout: config.Layout) -> None:
    """The etcd, CoreDNS and pause versions the course builds are what kubeadm itself pins.

    Reads ``cmd/kubeadm/app/constants/constants.go`` of the Kubernetes module in the cache
    (there once Kubernetes is built); a mismatch is a stale version table, said in one line.
    """
    release = config.release()
    module = layout.gomodcache / f"k8s.io/kubernetes@v{release.kubernetes}"
    constants = module / "cmd/kubeadm/app/constants/constants.go"
    if not constants.is_file():
        return
    pinned = versions.pins_from_constants(constants.read_text())
    ours = (release.etcd, release.coredns, release.pause)
    if pinned != ours:
        raise ClusterError(
            f"Kubernetes {release.kubernetes}'s kubeadm pins etcd, CoreDNS and pause "
            f"{', '.join(pinned)}, but the course would build {', '.join(ours)}: update "
            "RELEASES in helpers/cluster/versions.py."
        )


def ensure_all_built(layout: config.Layout, progress: Progress) -> dict[str, Path]:
    """Build (or find in the cache) every binary of the local cluster; name -> path."""
    paths: dict[str, Path] = {}
    started = time.monotonic()
    fresh = False
    for make in ALL_BUILDS:
        build = make()
        fresh = fresh or not is_built(build, layout)
        paths.update(ensure_built(build, layout, progress).paths)
    check_pins(layout)
    if fresh:
        progress.say(f"all binaries built in {time.monotonic() - started:.0f}s")
    return paths


def recipe_stamp(build: GoBuild, layout: config.Layout) -> str:
    """The recipe hash a finished build of ``build`` recorded, or '' if it is not built."""
    try:
        return (layout.bin / build.key / STAMP).read_text().strip()
    except OSError:
        return ""
