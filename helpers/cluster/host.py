"""What the local cluster needs from, and leaves on, the host: checks, packages, cleanup.

Everything the cluster creates on the host is findable: files under the state directory,
mounts under it, cgroups under ``/sa-course`` in every cgroup hierarchy, one bridge
interface (with the node's address on it), kube-proxy's own nftables table (or, where
nftables cannot work, its KUBE-* iptables chains), and processes whose command line
names the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from . import config
from .errors import ClusterError
from .locks import APT_LOCK, file_lock
from .progress import Progress
from .settings import settings

CGROUP_MOUNT = Path("/sys/fs/cgroup")

#: Debian package -> a file that proves it is installed
PACKAGE_FILES = {
    "runc": ("/usr/sbin/runc", "/usr/bin/runc"),
    "containernetworking-plugins": ("/usr/lib/cni/bridge",),
    "busybox-static": ("/bin/busybox", "/usr/bin/busybox"),
    # the static C library, to compile the pause image
    "libc6-dev": ("/usr/lib/x86_64-linux-gnu/libc.a", "/usr/lib/aarch64-linux-gnu/libc.a"),
    # the nft command, through which kube-proxy writes its nftables rules
    "nftables": ("/usr/sbin/nft", "/sbin/nft"),
    # makes the Debian root filesystem of the course's tools image (curl, jq, kubectl)
    "mmdebstrap": ("/usr/bin/mmdebstrap",),
}
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
#: kube-proxy's nftables mode needs this kernel (its own check, pkg/proxy/nftables).
NFTABLES_MIN_KERNEL = (5, 13)
PROXY_MODES = ("nftables", "iptables")

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


#: the packages that building the Pod images needs (busybox, pause.c, the tools image's rootfs)
IMAGE_PACKAGES = ("busybox-static", "libc6-dev", "mmdebstrap")


def missing_packages(only: Iterable[str] | None = None) -> list[str]:
    """Debian packages the local cluster needs (or ``only`` these) that are not installed."""
    wanted = set(PACKAGE_FILES if only is None else only)
    return [
        pkg
        for pkg, files in PACKAGE_FILES.items()
        if pkg in wanted and not any(Path(f).exists() for f in files)
    ]


def can_install_packages() -> bool:
    """True where this process may install Debian packages itself (root with apt-get)."""
    return platform.system() == "Linux" and os.geteuid() == 0 and bool(shutil.which("apt-get"))


def ensure_packages(progress: Progress, only: Iterable[str] | None = None) -> None:
    """Install the missing Debian packages with apt-get, or say what to install."""
    missing = missing_packages(only)
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise ClusterError(
            f"The local cluster needs {', '.join(missing)} and this machine has no apt-get: "
            "install them with your package manager and retry."
        )
    with (
        file_lock(APT_LOCK, "installing Debian packages", progress),
        progress.stage(f"installing Debian packages: {' '.join(missing)}"),
    ):
        missing = missing_packages(only)  # the other process may have installed them
        if not missing:
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, check=False, timeout=1800
        )
        if proc.returncode != 0:
            subprocess.run(
                ["apt-get", "update", "-q"], capture_output=True, env=env, check=False, timeout=600
            )
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=env, check=False, timeout=1800
            )
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
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False, timeout=60)
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


def port_in_use(port: int, host: str = "127.0.0.1", proto: str = "tcp") -> bool:
    """True if something already holds ``host:port`` (``proto`` is "tcp" or "udp")."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _port_taken(component: str, port: int, host: str, proto: str = "tcp") -> ClusterError:
    hint = (
        "stop that program or set COURSE_API_PORT to a free port"
        if component == "kube-apiserver"
        else f"stop that program (`ss -l{proto[0]}np` shows which one) and retry"
    )
    return ClusterError(
        f"Port {port}/{proto} on {host}, which the local cluster's {component} needs, is "
        f"already in use by another program: {hint}."
    )


def check_ports(ports: config.Ports) -> None:
    """Fail with one sentence if a port the local cluster needs on 127.0.0.1 is taken."""
    for component, port in ports.by_component().items():
        if port_in_use(port):
            raise _port_taken(component, port, "127.0.0.1")


def check_node_ports(ports: config.Ports) -> None:
    """The same for the ports on the node's bridge address (once the bridge has it)."""
    for component, (port, proto) in ports.on_node_ip().items():
        if port_in_use(port, config.NODE_IP, proto):
            raise _port_taken(component, port, config.NODE_IP, proto)


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
            proc = subprocess.run(
                ["umount", str(point)], capture_output=True, check=False, timeout=60
            )
            if proc.returncode != 0:
                subprocess.run(
                    ["umount", "-l", str(point)], capture_output=True, check=False, timeout=60
                )
        time.sleep(0.05)
    return mounts_under(path)


def _ip(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=60)


def addresses_in(subnet: str) -> dict[str, str]:
    """Interfaces holding an IPv4 address inside ``subnet``: name -> address/prefix."""
    found = {}
    for line in _ip(["-4", "-o", "addr", "show"]).stdout.splitlines():
        fields = line.split()  # "3: eth0    inet 192.0.2.2/24 brd … scope global eth0"
        if len(fields) > 3 and fields[2] == "inet":
            iface = ipaddress.ip_interface(fields[3])
            if iface.network.overlaps(ipaddress.ip_network(subnet)):
                found[fields[1]] = fields[3]
    return found


def ensure_bridge(name: str, subnet: str, address: str) -> None:
    """Create bridge ``name`` holding ``address`` (in ``subnet``) and bring it up.

    The bridge is the node's side of the Pod network; the address is where Pods reach
    the API server and CoreDNS. Fails in one sentence if another interface uses the subnet.
    """
    cidr = f"{address}/{ipaddress.ip_network(subnet).prefixlen}"
    others = {k: v for k, v in addresses_in(subnet).items() if k != name}
    if others:
        iface, other = next(iter(others.items()))
        raise ClusterError(
            f"The interface {iface} already uses {other}, inside the local cluster's Pod "
            f"network {subnet}: remove that address or network and retry."
        )
    steps = [["link", "add", name, "type", "bridge"]] if not link_exists(name) else []
    steps += [["addr", "replace", cidr, "dev", name], ["link", "set", name, "up"]]
    for args in steps:
        proc = _ip(args)
        if proc.returncode != 0:
            raise ClusterError(
                f"Could not set up the Pod bridge {name} with {cidr} (`ip {' '.join(args)}`: "
                f"{proc.stderr.strip()}): run `make cluster-down` and retry."
            )


def link_exists(name: str) -> bool:
    """True if network interface ``name`` exists."""
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    """Delete network interface ``name`` if it exists."""
    if link_exists(name):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False, timeout=60)


#: /proc/net tables, and the state that means "listening" (TCP LISTEN, unconnected UDP)
PROC_NET = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}


def proc_net_address(hex_address: str) -> tuple[str, int]:
    """Decode an address of /proc/net/tcp (little-endian words) to (ip, port).

    >>> proc_net_address("0100550A:1A0B"), proc_net_address("00000000000000000000000001000000:35")
    (('10.85.0.1', 6667), ('::1', 53))
    """
    hex_ip, hex_port = hex_address.split(":")
    raw = b"".join(bytes.fromhex(hex_ip[i : i + 8])[::-1] for i in range(0, len(hex_ip), 8))
    return str(ipaddress.ip_address(raw)), int(hex_port, 16)


def listening_sockets(pids: Iterable[int]) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening socket the processes ``pids`` hold."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = set()
    for proto, listening in PROC_NET.items():
        with contextlib.suppress(OSError):
            for line in Path("/proc/net", proto).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == listening and fields[9] in inodes:
                    found.add((proto, *proc_net_address(fields[1])))
    return found


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


# -- sysctls ----------------------------------------------------------------------------

#: What the kubelet sets for itself when it starts (setupKernelTunables in
#: pkg/kubelet/cm): recorded before it starts and restored by ``down()``.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
PROC_SYS = Path("/proc/sys")


def read_sysctls(names: Iterable[str], root: Path = PROC_SYS) -> dict[str, str]:
    """The current values of the sysctls ``names`` that this kernel has."""
    found = {}
    for name in names:
        with contextlib.suppress(OSError):
            found[name] = (root / name).read_text().strip()
    return found


def restore_sysctls(values: Mapping[str, str], root: Path = PROC_SYS) -> list[str]:
    """Write back each sysctl that differs from ``values``; return those that could not be."""
    failed = []
    for name, value in read_sysctls(values, root).items():
        if value != values[name]:
            try:
                (root / name).write_text(values[name] + "\n")
            except OSError:
                failed.append(name)
    return failed


# -- kube-proxy's rules: nftables, or iptables where nftables cannot work ---------------


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of the running kernel, e.g. ``(6, 1)`` for ``6.1.0-18-amd64``.

    >>> kernel_version("6.18.44-fc-v657")
    (6, 18)
    """
    match = re.match(r"(\d+)\.(\d+)", release or platform.release())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def nft_path() -> str | None:
    """The nft command, if installed."""
    installed = [f for f in PACKAGE_FILES["nftables"] if Path(f).exists()]
    return installed[0] if installed else shutil.which("nft")


def nftables_usable() -> bool:
    """True if kube-proxy's nftables mode can work: kernel 5.13+, nft, nf_tables answering."""
    nft = nft_path()
    if kernel_version() < NFTABLES_MIN_KERNEL or not nft:
        return False
    # What kube-proxy itself tries first (knftables.New): a dry run of creating its table.
    cmd = [nft, "--check", "add", "table", "ip", config.KUBE_PROXY_TABLE]
    return subprocess.run(cmd, capture_output=True, check=False, timeout=60).returncode == 0


def iptables_usable() -> bool:
    """True if the iptables command works here (kube-proxy's fallback mode)."""
    if not shutil.which("iptables"):
        return False
    cmd = ["iptables", "-w", "5", "-t", "nat", "-S", "POSTROUTING"]
    return subprocess.run(cmd, capture_output=True, check=False, timeout=60).returncode == 0


def kube_proxy_mode(env: Mapping[str, str] | None = None) -> str:
    """nftables where the kernel supports it, else iptables (``COURSE_KUBE_PROXY_MODE`` picks)."""
    wanted = settings(env).kube_proxy_mode
    if wanted and wanted not in PROXY_MODES:
        raise ClusterError(
            f"COURSE_KUBE_PROXY_MODE={wanted!r} is not a kube-proxy mode: set it to nftables, "
            "iptables or nothing."
        )
    if wanted == "nftables" or (not wanted and nftables_usable()):
        return "nftables"
    if iptables_usable():
        return "iptables"
    raise ClusterError(
        "kube-proxy needs nftables (Linux 5.13 or newer with nf_tables) or iptables, and "
        f"neither works on this machine: install iptables, {OTHER_BACKENDS}."
    )


def _nft(args: list[str]) -> subprocess.CompletedProcess:
    nft = nft_path()
    if not nft:
        return subprocess.CompletedProcess(args, 1, "", "nft is not installed")
    return subprocess.run([nft, *args], capture_output=True, text=True, check=False, timeout=60)


def nft_table_names() -> list[str]:
    """Every nftables table, as "family name" (e.g. "ip kube-proxy", "ip nat")."""
    lines = _nft(["list", "tables"]).stdout.splitlines()
    return [line.removeprefix("table ").strip() for line in lines if line.startswith("table ")]


def nft_tables(name: str = config.KUBE_PROXY_TABLE) -> list[str]:
    """The nftables tables called ``name``, as "family name" (e.g. "ip kube-proxy")."""
    return [t for t in nft_table_names() if t.split()[-1:] == [name]]


def delete_nft_tables(name: str = config.KUBE_PROXY_TABLE) -> None:
    """Delete every nftables table called ``name`` (kube-proxy's: one per IP family)."""
    for table in nft_tables(name):
        _nft(["delete", "table", *table.split()])


def nft_table_is_empty(listing: str) -> bool:
    """True if an ``nft list table`` listing has chains without rules, and nothing else."""
    for line in listing.splitlines():
        line = line.strip()
        if line and line != "}" and not line.startswith(("table ", "chain ", "type ", "#")):
            return False
    return True


def delete_new_empty_nft_tables(before: Iterable[str]) -> None:
    """Delete the empty tables that appeared since ``before`` (iptables-nft makes them)."""
    for table in set(nft_table_names()) - set(before):
        if nft_table_is_empty(_nft(["list", "table", *table.split()]).stdout):
            _nft(["delete", "table", *table.split()])


def kube_iptables_chains() -> list[str]:
    """KUBE-* chains in the host's iptables and ip6tables, as "iptables nat KUBE-SERVICES"."""
    found = []
    for save in ("iptables-save", "ip6tables-save"):
        if not shutil.which(save):
            continue
        out = subprocess.run([save], capture_output=True, text=True, check=False, timeout=60).stdout
        table = ""
        for line in out.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":KUBE-"):
                found.append(f"{save.removesuffix('-save')} {table} {line[1:].split()[0]}")
    return found


#: iptables chains kube-proxy's iptables mode creates but never deletes (the kubelet's
#: firewall chain, duplicated): table, chain, the built-in chains that jump to it.
KUBE_FIREWALL = ("filter", "KUBE-FIREWALL", ("INPUT", "OUTPUT"))


def other_kube_proxy_rules(mode: str) -> list[str]:
    """kube-proxy rules this machine already has: another Kubernetes, or a lost leftover.

    Called when no course cluster is running. Our kube-proxy would replace them: in
    nftables mode it deletes the iptables mode's chains, both modes share the table name,
    and in iptables mode ``down()`` deletes KUBE-FIREWALL, which must then be ours.
    """
    found = [f"the nftables table {t}" for t in nft_tables()]
    markers = ("KUBE-SERVICES", "KUBE-PROXY-CANARY")
    markers += (KUBE_FIREWALL[1],) if mode == "iptables" else ()
    found += [f"the {c} chain" for c in kube_iptables_chains() if c.endswith(markers)]
    return found


def delete_iptables_chain(table: str, chain: str, parents: tuple[str, ...]) -> None:
    """Delete ``chain`` and the plain jumps to it from ``parents`` (iptables and ip6tables)."""
    for command in ("iptables", "ip6tables"):
        if not shutil.which(command):
            continue
        base = [command, "-w", "5", "-t", table]
        for parent in parents:
            for _ in range(10):  # one jump each, unless something added it twice
                jump = [*base, "-D", parent, "-j", chain]
                if (
                    subprocess.run(jump, capture_output=True, check=False, timeout=60).returncode
                    != 0
                ):
                    break
        for action in ("-F", "-X"):
            subprocess.run([*base, action, chain], capture_output=True, check=False, timeout=60)


def check_no_other_kube_proxy(mode: str) -> None:
    """Fail with one sentence if another kube-proxy's rules are on this machine."""
    found = other_kube_proxy_rules(mode)
    if found:
        raise ClusterError(
            f"This machine already has kube-proxy rules ({found[0]}), from another Kubernetes "
            "or a lost course cluster, which the course's kube-proxy would replace: stop that "
            "cluster or delete the rules (e.g. `nft delete table ip kube-proxy`), "
            f"{OTHER_BACKENDS}."
        )
