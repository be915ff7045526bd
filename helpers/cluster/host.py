"""What the local cluster needs from, and leaves on, the host: checks, packages, cleanup.

Everything the cluster creates on the host is findable: files under the state directory,
mounts under it, cgroups under ``/sa-course`` in every cgroup hierarchy, one bridge
interface, and processes whose command line names the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from . import config
from .errors import ClusterError
from .progress import Progress

CGROUP_MOUNT = Path("/sys/fs/cgroup")

#: Debian package -> a file that proves it is installed
PACKAGE_FILES = {
    "runc": ("/usr/sbin/runc", "/usr/bin/runc"),
    "containernetworking-plugins": ("/usr/lib/cni/bridge",),
    "busybox-static": ("/bin/busybox", "/usr/bin/busybox"),
    # the static C library, to compile the pause image
    "libc6-dev": ("/usr/lib/x86_64-linux-gnu/libc.a", "/usr/lib/aarch64-linux-gnu/libc.a"),
}
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")

OTHER_BACKENDS = (
    "or use another backend: COURSE_BACKEND=kind (needs Docker) or "
    "COURSE_BACKEND=kubeconfig (an existing cluster)"
)


# -- preflight ---------------------------------------------------------------------------


def require_linux_root() -> None:
    """The local cluster runs a kubelet and containerd: Linux and root only."""
    if platform.system() != "Linux":
        raise ClusterError(
            f"The local cluster runs Kubernetes' own processes and needs Linux, not "
            f"{platform.system()}: {OTHER_BACKENDS}."
        )
    if os.geteuid() != 0:
        raise ClusterError(
            "The local cluster runs a kubelet and a container runtime, which need root: run "
            f"the command again as root (for example `sudo make lab`), {OTHER_BACKENDS}."
        )


def missing_packages() -> list[str]:
    """Debian packages the local cluster needs that are not installed."""
    return [pkg for pkg, files in PACKAGE_FILES.items() if not any(Path(f).exists() for f in files)]


def ensure_packages(progress: Progress) -> None:
    """Install the missing Debian packages with apt-get, or say what to install."""
    missing = missing_packages()
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise ClusterError(
            f"The local cluster needs {', '.join(missing)} and this machine has no apt-get: "
            "install them with your package manager and retry."
        )
    with progress.stage(f"installing Debian packages: {' '.join(missing)}"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise ClusterError(
                f"Installing {' '.join(missing)} with apt-get failed "
                f"({proc.stderr.strip().splitlines()[-1:] or '?'}): install them by hand "
                f"(apt-get install {' '.join(missing)}) and retry."
            )


def runc_path() -> str:
    """Path of the runc binary containerd's shim will run."""
    for f in PACKAGE_FILES["runc"]:
        if Path(f).exists():
            return f
    return shutil.which("runc") or "runc"


def cni_bin_dirs() -> list[str]:
    """Directories holding the CNI plugins (Debian's first)."""
    return [d for d in CNI_BIN_DIRS if Path(d, "bridge").exists()] or [CNI_BIN_DIRS[0]]


def check_kernel() -> None:
    """overlayfs and the cgroup controllers the kubelet insists on must be there."""
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems:
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise ClusterError(
                "The kernel has no overlay filesystem, which containerd needs for container "
                f"images: load it with `modprobe overlay`, {OTHER_BACKENDS}."
            )
    if cgroup_version() == 1:
        needed = {"cpu", "cpuacct", "cpuset", "memory", "pids"}
        missing = needed - set(v1_hierarchies())
        if missing:
            raise ClusterError(
                f"The cgroup controllers {', '.join(sorted(missing))} are not mounted, and the "
                f"kubelet needs them: mount them under {CGROUP_MOUNT}, {OTHER_BACKENDS}."
            )


# -- ports -------------------------------------------------------------------------------


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def check_ports(ports: config.Ports) -> None:
    """Fail with one sentence if a port the local cluster needs is taken."""
    for component, port in ports.by_component().items():
        if port_in_use(port):
            hint = (
                "stop that program or set COURSE_API_PORT to a free port"
                if component == "kube-apiserver"
                else "stop that program (`ss -ltnp` shows which one) and retry"
            )
            raise ClusterError(
                f"Port {port} on 127.0.0.1, which the local cluster's {component} needs, is "
                f"already in use by another program: {hint}."
            )


# -- cgroups -----------------------------------------------------------------------------


def cgroup_version() -> int:
    """2 on a pure cgroup v2 host, 1 otherwise (v1 or the hybrid layout)."""
    return 2 if (CGROUP_MOUNT / "cgroup.controllers").exists() else 1


def v1_hierarchies() -> dict[str, Path]:
    """Mounted cgroup v1 hierarchies: controller (or name=…) -> mount point."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, opts = ([*right.split(), "", "", ""])[:3]
        if fstype != "cgroup":
            continue
        mount_point = Path(left.split()[4])
        for opt in opts.split(","):
            if opt in {"rw", "ro"} or ("=" in opt and not opt.startswith("name=")):
                continue
            found[opt] = mount_point
    return found


def cgroup_roots(name: str = config.CGROUP_ROOT) -> list[Path]:
    """The directories of cgroup ``name`` in every hierarchy (v1) or the one tree (v2)."""
    rel = name.strip("/")
    if cgroup_version() == 2:
        return [CGROUP_MOUNT / rel]
    mounts = {p for p in v1_hierarchies().values()}
    unified = CGROUP_MOUNT / "unified"
    if (unified / "cgroup.procs").exists():
        mounts.add(unified)
    return sorted(m / rel for m in mounts)


def make_cgroup_root() -> None:
    """Create the cgroup the kubelet puts every pod under (it must exist beforehand)."""
    for path in cgroup_roots():
        path.mkdir(exist_ok=True)
    if cgroup_version() == 2:
        root = cgroup_roots()[0]
        wanted = (CGROUP_MOUNT / "cgroup.subtree_control").read_text().split()
        for controller in wanted:
            with contextlib.suppress(OSError):
                (root / "cgroup.subtree_control").write_text(f"+{controller}")


def cgroup_pids() -> set[int]:
    """Every process in our cgroup tree (containers, pause processes)."""
    pids: set[int] = set()
    for root in cgroup_roots():
        if not root.is_dir():
            continue
        for procs in root.rglob("cgroup.procs"):
            try:
                pids.update(int(p) for p in procs.read_text().split())
            except OSError:
                continue
    return pids


def remove_cgroup_root() -> list[Path]:
    """Remove our cgroup tree, deepest first; return what could not be removed."""
    left: list[Path] = []
    for root in cgroup_roots():
        if not root.is_dir():
            continue
        dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, root]:
            try:
                d.rmdir()
            except OSError:
                left.append(d)
    return left


# -- processes, mounts, network ----------------------------------------------------------


def pids_mentioning(path: Path) -> list[int]:
    """Processes whose command line mentions ``path`` (our daemons and shims)."""
    needle = str(path).encode()
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each pid, ignoring the ones already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first."""
    prefix = str(path).rstrip("/")
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(Path(point))
    return sorted(set(points), key=lambda p: (-len(p.parts), str(p)))


def unmount_all(path: Path) -> list[Path]:
    """Unmount everything at or below ``path``; return what is still mounted."""
    for _ in range(3):
        points = mounts_under(path)
        if not points:
            return []
        for point in points:
            proc = subprocess.run(["umount", str(point)], capture_output=True, check=False)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
        time.sleep(0.05)
    return mounts_under(path)


def link_exists(name: str) -> bool:
    """True if network interface ``name`` exists."""
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    """Delete network interface ``name`` if it exists."""
    if link_exists(name):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def remove_pod_log_links(state: Path) -> None:
    """Remove the kubelet's symlinks in /var/log/containers that point into ``state``."""
    logs = Path("/var/log/containers")
    if not logs.is_dir():
        return
    for link in logs.iterdir():
        try:
            if link.is_symlink() and str(state) in os.readlink(link):
                link.unlink()
        except OSError:
            continue


def remove_empty_dirs(paths: Iterable[Path]) -> None:
    """Remove each directory if it exists and is empty (someone else's stays)."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.rmdir()


def dead_sockets(directory: Path) -> list[Path]:
    """Unix socket files in ``directory`` that no process listens on any more."""
    if not directory.is_dir():
        return []
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return []
    alive = {line.split()[-1] for line in lines if len(line.split()) >= 8}
    return sorted(p for p in directory.iterdir() if p.is_socket() and str(p) not in alive)


def remove_dead_sockets(directory: Path) -> None:
    """Remove the socket files a killed process left in ``directory``."""
    for path in dead_sockets(directory):
        with contextlib.suppress(OSError):
            path.unlink()
