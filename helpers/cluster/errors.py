"""Errors of the course cluster: one plain sentence that says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class ClusterError(RuntimeError):
    """Something stops the course cluster from starting or answering.

    The message is written for a learner: what is wrong, then what to do. IPython and
    the command line show only that message, not a traceback.
    """

    def _render_traceback_(self) -> list[str]:  # IPython hook: no traceback, just the sentence
        return [f"{type(self).__name__}: {self}"]


class ComponentFailed(ClusterError):
    """A cluster component exited or never became ready; carries the tail of its log."""

    def __init__(self, component: str, problem: str, log: Path | None = None, lines: int = 15):
        self.component = component
        self.log = log
        tail = log_tail(log, lines) if log else ""
        message = f"{component} {problem}."
        if log:
            message += f" Its log is {log}; the last lines are:\n{tail}" if tail else f" See {log}."
        super().__init__(message)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, indented, or '' if there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])
