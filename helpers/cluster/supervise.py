"""Start, watch and stop the cluster's processes; they outlive the Python that started them.

Each component runs in its own session (so closing a notebook kernel or a terminal does
not stop the cluster), logs to ``<state>/logs/<name>.log`` and leaves a pid file
``<state>/run/<name>.pid`` holding its pid and start time, so a recycled pid is never
mistaken for our process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import ClusterError, ComponentFailed


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot) from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return fields[19]


class Supervisor:
    """Processes of one cluster, tracked by pid files in ``run_dir``."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir

    def log(self, name: str) -> Path:
        """The log file of component ``name``."""
        return self.log_dir / f"{name}.log"

    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(
        self, name: str, argv: Sequence[str | Path], env: Mapping[str, str] | None = None
    ) -> int:
        """Start ``argv`` as component ``name`` in a new session; return its pid."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log(name).open("ab")
        try:
            proc = subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise ClusterError(f"Could not start {name} ({argv[0]}): {exc.strerror}.") from exc
        finally:
            log.close()
        self._pidfile(name).write_text(f"{proc.pid} {_start_time(proc.pid) or ''}\n")
        return proc.pid

    def pid(self, name: str) -> int | None:
        """The pid of component ``name`` if it is still our running process."""
        try:
            pid_s, _, started = self._pidfile(name).read_text().strip().partition(" ")
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        current = _start_time(pid)
        return pid if current is not None and current == started else None

    def alive(self, name: str) -> bool:
        """True if component ``name`` is running."""
        return self.pid(name) is not None

    def names(self) -> list[str]:
        """Components that have a pid file."""
        return sorted(p.stem for p in self.run_dir.glob("*.pid")) if self.run_dir.is_dir() else []

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """Stop component ``name``: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        pid = self.pid(name)
        if pid is not None:
            terminate(pid, timeout)
        self._pidfile(name).unlink(missing_ok=True)

    def wait_for(
        self,
        name: str,
        ready: Callable[[], bool],
        what: str,
        timeout: float,
        interval: float = 0.1,
    ) -> None:
        """Poll ``ready()`` until it is true; fail naming ``name`` if it dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive(name):
                raise ComponentFailed(name, f"exited while we waited for {what}", self.log(name))
            try:
                if ready():
                    return
            except Exception:  # not ready yet: connection refused, 5xx, not found …
                pass
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    name, f"did not get to '{what}' within {timeout:.0f}s", self.log(name)
                )
            time.sleep(interval)


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _start_time(pid) is None:
            _reap(pid)
            return
        _reap(pid)
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):
        if _start_time(pid) is None:
            break
        time.sleep(0.02)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
