"""The kubeconfig backend: an existing cluster from a kubeconfig's current context.

For workshops (the instructor hands out kubeconfigs) and for multi-node clusters. The
course only creates and deletes its own namespaces and a few cluster-scoped objects with
course names; ``down()`` never touches the cluster itself.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ClusterError
from .progress import Progress
from .settings import settings


def kubeconfig_path() -> Path:
    """``COURSE_KUBECONFIG``, else the first file of ``KUBECONFIG``, else ~/.kube/config."""
    return settings().kubeconfig


class KubeconfigBackend:
    """A cluster someone else runs; we only read its kubeconfig."""

    name = "kubeconfig"

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress or Progress()

    @property
    def kubeconfig(self) -> Path:
        return kubeconfig_path()

    def up(self) -> Path:
        """Check that the kubeconfig exists; the cluster is someone else's to start."""
        if not self.kubeconfig.is_file():
            raise ClusterError(
                f"COURSE_BACKEND=kubeconfig, but there is no kubeconfig at {self.kubeconfig}: "
                "set COURSE_KUBECONFIG to the file your instructor gave you."
            )
        self.progress.say(f"using the existing cluster of {self.kubeconfig} (current context)")
        return self.kubeconfig

    def down(self, quiet: bool = False) -> None:
        """Nothing to stop: the cluster is not ours."""
        if not quiet:
            self.progress.say("kubeconfig backend: the cluster is not ours, leaving it running")

    def status(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "kubeconfig": str(self.kubeconfig),
            "exists": self.kubeconfig.is_file(),
        }
