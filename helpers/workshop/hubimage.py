"""The course image: a learner's JupyterLab, with the course in it, for the browser classroom.

Built the way the tools image is (:mod:`helpers.cluster.toolsimage`), without a registry:

1. Debian bookworm's ``python3`` and the tools image's shell tools (bash, curl, jq,
   openssl), unpacked by mmdebstrap with their libraries and nothing else;
2. the kubectl the course builds, and ``start-course``, the Pod's command (below);
3. the course's Python packages as PyPI wheels for CPython 3.11 on glibc (``pip install
   --target``: no compiler, no package manager in the image), plus JupyterHub's
   single-user server;
4. the course itself: ``helpers/``, ``notebooks/``, ``labs/``, ``manifests/``, the README.

``start-course`` copies the course into the learner's home (an ``emptyDir``: a fresh server
is a fresh course), writes a kubeconfig whose credential is the Pod's own projected token
file (``tokenFile``: kubectl and the course re-read it as the kubelet rotates it) and
whose context names the learner's prefix and workshop as a handed-out one does, and
starts ``jupyterhub-singleuser`` in the course's folder. The image holds no credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..cluster import build, config, images
from ..cluster.debian import ensure_rootfs, rootfs_key, run_logged
from ..cluster.images import Entry, HostFile
from ..cluster.locks import file_lock
from ..cluster.progress import Progress
from ..cluster.toolsimage import HOOKS, VARIANT
from ..cluster.toolsimage import PACKAGES as TOOLS_PACKAGES

__all__ = [
    "COURSE_FILES",
    "COURSE_IMAGE",
    "HOME",
    "REQUIREMENTS",
    "ensure_course_image",
    "recipe",
]

#: The image's name: the course's own, which no registry serves.
COURSE_IMAGE = "sa-course/jupyterlab:1"
#: Debian packages: the tools image's, awk (notebook 04's shell cell), Python, what
#: manylinux wheels may link against, and tini (PID 1: it reaps the kernels' children).
PACKAGES = (*TOOLS_PACKAGES, "mawk", "python3", "libstdc++6", "tini")
#: The tools image's hooks, and the ``awk`` link mawk's maintainer script would have made.
COURSE_HOOKS = (*HOOKS, 'ln -sf mawk "$1"/usr/bin/awk')
#: Bookworm's Python: the wheels are chosen, and their bytecode compiled, for it.
IMAGE_PYTHON = (3, 11)
#: How the wheels layer is made beyond REQUIREMENTS (a change makes a new layer).
WHEELS_RECIPE = "pip --target; compileall --invalidation-mode unchecked-hash"
#: Where the wheels go, and where the course waits to be copied.
LIB = "opt/sa-course/lib"
COURSE = "opt/sa-course/course"
#: JupyterLab's settings for everyone (no news, no update checks), as `make lab` installs them.
SETTINGS = f"{LIB}/share/jupyter/lab/settings/overrides.json"
#: The learner's home in the Pod (an emptyDir the spawner mounts).
HOME = "/home/learner"
#: What of the repository goes into the image (each a file or a folder).
COURSE_FILES = ("README.md", "helpers", "notebooks", "labs", "manifests")
#: The packages the course needs in a Pod: the course's own (not the kind backend's,
#: which brings pytest), and JupyterHub's single-user server.
REQUIREMENTS = (
    "jupyterlab~=4.6.0",
    "ipykernel~=7.4.0",
    "kubernetes~=37.0.0",
    "PyJWT[crypto]~=2.15.0",
    "cryptography~=50.0.0",
    "pandas~=3.1.0",
    "matplotlib~=3.11.0",
    "PyYAML~=6.0.0",
    "nbformat~=5.11.0",
    "jupyterhub~=6.1.1",
)
START_SCRIPT = r"""#!/bin/bash
# start-course -- the course's JupyterLab in a learner's Pod (helpers.workshop.hubimage).
set -eu
home=${HOME:-/home/learner}
sa=/var/run/secrets/kubernetes.io/serviceaccount
[ -d "$home/course" ] || cp -r /opt/sa-course/course "$home/course"
host=$KUBERNETES_SERVICE_HOST
case $host in *:*) host="[$host]" ;; esac
mkdir -p "$home/.kube"
umask 077
cat > "$home/.kube/config" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: course
  cluster:
    server: https://$host:$KUBERNETES_SERVICE_PORT
    certificate-authority: $sa/ca.crt
users:
- name: learner
  user:
    tokenFile: $sa/token
contexts:
- name: course
  context:
    cluster: course
    user: learner
    namespace: $COURSE_PREFIX-setup-ns
    extensions:
    - name: sa-course.io/course
      extension: {prefix: "$COURSE_PREFIX", workshop: "$COURSE_WORKSHOP"}
current-context: course
EOF
umask 022
export COURSE_BACKEND=kubeconfig COURSE_KUBECONFIG="$home/.kube/config"
export PYTHONPATH="$home/course:${PYTHONPATH:-}"
cd "$home/course"
exec python3 -m jupyterhub.singleuser \
  --ServerApp.contents_manager_class=helpers.jupyterlab.contents.CourseContentsManager "$@"
"""
#: Jupyter finds its server extensions' configuration, JupyterLab's assets and extensions
#: under these, not under /usr (sys.prefix).
IMAGE_ENV = [
    f"PATH=/usr/local/bin:/{LIB}/bin:/usr/bin:/bin",
    f"PYTHONPATH=/{LIB}",
    f"JUPYTER_PATH=/{LIB}/share/jupyter",
    f"JUPYTER_CONFIG_PATH=/{LIB}/etc/jupyter",
    f"JUPYTERLAB_DIR=/{LIB}/share/jupyter/lab",
    f"HOME={HOME}",
    "PYTHONUNBUFFERED=1",
    "LANG=C.UTF-8",
]
IMAGE_CONFIG = {
    "Env": IMAGE_ENV,
    "Entrypoint": ["/usr/bin/tini", "--"],
    "Cmd": ["start-course"],
    "WorkingDir": HOME,
    "User": "1000:1000",
    "Labels": {"org.opencontainers.image.title": "sa-course jupyterlab"},
}


def repository_root() -> Path:
    """The checkout the course is copied from (this package's parent's parent)."""
    return Path(__file__).resolve().parents[2]


def _course_files(root: Path) -> Iterator[Path]:
    for name in COURSE_FILES:
        top = root / name
        if top.is_file():
            yield top
            continue
        for path in sorted(top.rglob("*")):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and ".ipynb_checkpoints" not in path.parts
            ):
                yield path


def course_digest(root: Path) -> str:
    """What of the repository the image holds, as one hash (a changed notebook, a new image)."""
    digest = hashlib.sha256()
    for path in _course_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def recipe(kubectl_stamp: str, course: str) -> str:
    """What decides the image's bytes: packages, wheels asked for, kubectl, course, script.

    >>> recipe("k", "c") == recipe("k", "c") != recipe("k", "d")
    True
    """
    blob = json.dumps(
        [
            rootfs_key(PACKAGES, VARIANT, COURSE_HOOKS),
            REQUIREMENTS,
            wheel_platforms(),
            kubectl_stamp,
            course,
            START_SCRIPT,
            IMAGE_CONFIG,
            COURSE_IMAGE,
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def wheel_platforms() -> list[str]:
    """The wheel platforms bookworm's glibc (2.36) runs (pip takes each tag as given)."""
    machine = platform.machine()
    return [f"manylinux_2_{minor}_{machine}" for minor in range(36, 16, -1)] + [
        f"manylinux2014_{machine}"
    ]


def pip_command(target: Path, requirements: Iterable[str]) -> list[str]:
    """``pip install`` of wheels for the image's Python into ``target`` (no build, no deps check
    against this machine's packages).

    >>> cmd = pip_command(Path("/t"), ["pandas"])
    >>> cmd[3:6], "--only-binary=:all:" in cmd, cmd[-1]
    (['install', '--target', '/t'], True, 'pandas')
    """
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), "--quiet"]
    cmd += ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    cmd += ["--abi", "cp311", "--no-warn-script-location", "--disable-pip-version-check"]
    for p in wheel_platforms():
        cmd += ["--platform", p]
    return [*cmd, *requirements]


def _tree_entries(source: Path, prefix: str) -> list[Entry | HostFile]:
    """Every directory, file and symlink under ``source``, placed under ``prefix`` in a layer."""
    out: list[Entry | HostFile] = []
    parts = prefix.split("/")
    out += [Entry("/".join(parts[: i + 1]), "dir", mode=0o755) for i in range(len(parts))]
    for path in sorted(source.rglob("*")):
        rel = f"{prefix}/{path.relative_to(source)}"
        if path.is_symlink():
            out.append(Entry(rel, "symlink", target=os.readlink(path)))
        elif path.is_dir():
            out.append(Entry(rel, "dir", mode=0o755))
        elif path.is_file():
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            out.append(HostFile(rel, path, mode=mode))
    return out


def _wheels_layer(out: Path, progress: Progress) -> None:
    with tempfile.TemporaryDirectory(prefix="sa-course-wheels-") as tmp:
        target = Path(tmp) / "lib"
        log = out.with_suffix(".log")
        with progress.stage(
            f"installing the course's Python packages for the image ({len(REQUIREMENTS)} "
            "requirements, wheels from PyPI)"
        ):
            run_logged(
                pip_command(target, REQUIREMENTS),
                log,
                f"pip could not install the course image's packages (log: {log}): check "
                "your network access to PyPI and retry.",
            )
            # Bytecode now, once: the image's files are not writable by the learner, so
            # without it every server would compile all of Jupyter at each start (30 servers
            # starting at once on two cores did not answer within three minutes). Checked by
            # nothing at run time: the layer's files all have the same time.
            if sys.version_info[:2] != IMAGE_PYTHON:
                return _write_wheels_layer(out, target, progress)  # its bytecode would not fit
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", "-j0", "--invalidation-mode",
                 "unchecked-hash", str(target)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
                timeout=1800,
            )  # fmt: skip
        _write_wheels_layer(out, target, progress)


def _write_wheels_layer(out: Path, target: Path, progress: Progress) -> None:
    with progress.stage("writing the image's Python layer"):
        images.write_layer(out, _tree_entries(target, LIB))


def ensure_course_image(
    layout: config.Layout, progress: Progress, root: Path | None = None
) -> Path:
    """The course image as a docker-archive, built unless cached; its path."""
    root = root or repository_root()
    kubernetes = build.kubernetes_build()
    bins = build.ensure_built(kubernetes, layout, progress).paths
    key = recipe(build.recipe_stamp(kubernetes, layout), course_digest(root))
    out = layout.images / f"course-{key}.tar"
    with file_lock(
        layout.cache / "locks" / "course-image.lock", "writing the course image", progress
    ):
        if out.is_file():
            return out
        rootfs = ensure_rootfs(layout, "course", VARIANT, PACKAGES, COURSE_HOOKS, progress)
        # The wheels change only with REQUIREMENTS: cached apart from the course's files.
        wheels_key = hashlib.sha256(
            json.dumps([REQUIREMENTS, wheel_platforms(), WHEELS_RECIPE]).encode()
        )
        wheels = layout.images / f"course-wheels-{wheels_key.hexdigest()[:12]}.tar"
        if not wheels.is_file():
            _wheels_layer(wheels.with_suffix(".partial"), progress)
            wheels.with_suffix(".partial").replace(wheels)
        with progress.stage(f"writing the course image {COURSE_IMAGE}"):
            top = layout.images / f"course-{key}-top.tar"
            entries: list[Entry | HostFile] = [
                Entry("usr", "dir", mode=0o755),
                Entry("usr/local", "dir", mode=0o755),
                Entry("usr/local/bin", "dir", mode=0o755),
                HostFile("usr/local/bin/kubectl", bins["kubectl"]),
                Entry("usr/local/bin/start-course", data=START_SCRIPT.encode(), mode=0o755),
                Entry("home", "dir", mode=0o755),
                Entry(HOME.strip("/"), "dir", mode=0o777),
                *_course_entries(root),
                *[Entry(d, "dir", mode=0o755) for d in _parents(SETTINGS)],
                HostFile(SETTINGS, root / "helpers" / "jupyterlab" / "overrides.json", 0o644),
            ]
            images.write_layer(top, entries)
            images.write_docker_archive(out, [COURSE_IMAGE], [rootfs, wheels, top], IMAGE_CONFIG)
            top.unlink()
        for old in layout.images.glob("course-*.tar"):
            if old not in (out, wheels) and not old.name.endswith("-top.tar"):
                old.unlink()
    return out


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``: the directories a layer must hold for ``path``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _course_entries(root: Path) -> list[Entry | HostFile]:
    out: list[Entry | HostFile] = []
    parts = COURSE.split("/")
    out += [Entry("/".join(parts[: i + 1]), "dir", mode=0o755) for i in range(len(parts))]
    dirs: set[str] = set()
    for path in _course_files(root):
        rel = path.relative_to(root)
        for parent in reversed(rel.parents[:-1]):
            if str(parent) not in dirs:
                dirs.add(str(parent))
                out.append(Entry(f"{COURSE}/{parent}", "dir", mode=0o755))
        out.append(HostFile(f"{COURSE}/{rel}", path, mode=0o644))
    return out
