"""What can be seen of the control plane from here: flags, key files and their modes.

Where the flags and key files of kube-apiserver and kube-controller-manager live is the
cluster's business, and so is whether anyone may look:

- ``local``: the components are processes on this machine; their command lines are in
  ``/proc`` and their key files on this disk.
- ``kind``: kubeadm runs them as static Pods; their command lines are in the manifests
  under ``/etc/kubernetes/manifests`` inside the node container, the keys beside them.
- ``kubeconfig``: an existing cluster's control plane is out of reach (managed clusters
  never show it). Then :attr:`ControlPlane.visible` is False and the course teaches from
  what the API shows instead.

    >>> cp = ControlPlane("kubeconfig", "", {})
    >>> cp.visible, cp.flags(), cp.value("kube-apiserver", "--service-account-issuer")
    (False, {}, None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ClusterError

#: Flags that decide how ServiceAccount tokens are issued, signed and checked.
SA_FLAG_PREFIXES = (
    "--service-account-",
    "--api-audiences",
    "--root-ca-file",
    "--legacy-service-account-token-clean-up-period",
)
COMPONENTS = ("kube-apiserver", "kube-controller-manager")


@dataclass(frozen=True)
class ControlPlane:
    """The control plane as far as this machine can see it."""

    backend: str
    #: Where the flags were read, for prose ("the processes on this machine"); "" if hidden.
    seen_in: str
    #: Component name -> its command line (argv); empty where the control plane is hidden.
    command_lines: dict[str, list[str]] = field(default_factory=dict)
    _stat: Callable[[str], int] | None = field(default=None, repr=False, compare=False)
    _read: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def visible(self) -> bool:
        """True if the control plane's command lines could be read here."""
        return bool(self.command_lines)

    def flags(self, prefixes: tuple[str, ...] = SA_FLAG_PREFIXES) -> dict[str, list[str]]:
        """Each component's flags that start with one of ``prefixes``, as on its command line.

        >>> cp = ControlPlane("local", "here", {"kube-apiserver": ["x", "--api-audiences=a"]})
        >>> cp.flags(("--api-",))
        {'kube-apiserver': ['--api-audiences=a']}
        """
        return {
            name: [a for a in argv if a.startswith(prefixes)]
            for name, argv in self.command_lines.items()
        }

    def values(self, component: str, flag: str) -> list[str]:
        """Every value of ``flag`` (a flag may be repeated, e.g. ``--service-account-key-file``).

        >>> cp = ControlPlane("kind", "node", {"kube-apiserver": ["--a=1", "--a=2", "--b=3"]})
        >>> cp.values("kube-apiserver", "--a"), cp.values("kube-apiserver", "--c")
        (['1', '2'], [])
        """
        prefix = flag + "="
        argv = self.command_lines.get(component, [])
        return [a.removeprefix(prefix) for a in argv if a.startswith(prefix)]

    def value(self, component: str, flag: str) -> str | None:
        """The (last) value of ``flag``, or None if the flag is not set or cannot be seen."""
        found = self.values(component, flag)
        return found[-1] if found else None

    def file_mode(self, path: str) -> int:
        """Permission bits of a control-plane file (e.g. the signing key), e.g. ``0o600``."""
        if self._stat is None:
            raise ClusterError(
                "The control plane of this cluster cannot be seen from here, so neither can "
                "its key files: ask the cluster's administrator."
            )
        return self._stat(path)

    def read_public_file(self, path: str) -> bytes:
        """The content of a *public* control-plane file, e.g. the ServiceAccount public key."""
        if self._read is None:
            raise ClusterError(
                "The control plane of this cluster cannot be seen from here: use what the "
                "API server publishes instead (the discovery document and the JWKS)."
            )
        if path.endswith(".key"):
            raise ClusterError(f"{path} looks like a private key: the course never reads one.")
        return self._read(path)


def local_control_plane() -> ControlPlane:
    """The local cluster's processes: their argv from ``/proc``, their files on this disk."""
    from .node import node_of

    node = node_of("local")
    assert node is not None
    argv = {name: found for name in COMPONENTS if (found := node.argv(name))}
    return ControlPlane("local", "the processes on this machine", argv, node.mode, node.read)


def kind_control_plane() -> ControlPlane:
    """The kind node's static Pod manifests, and its files read with ``docker exec``."""
    from . import kind
    from .node import node_of

    node = node_of("kind")
    assert node is not None
    where = f"the static Pod manifests in the kind node {kind.CLUSTER_NAME}-control-plane"
    return ControlPlane("kind", where, kind.node_command_lines(), node.mode, node.read)


def control_plane(backend: str) -> ControlPlane:
    """The control plane of ``backend``'s course cluster, as far as it can be seen from here."""
    if backend == "local":
        return local_control_plane()
    if backend == "kind":
        return kind_control_plane()
    return ControlPlane(backend, "")
