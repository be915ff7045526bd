"""The names of what the course creates: its namespaces, and its few cluster-scoped objects.

On your own cluster the course's namespaces are ``controller-ns``, ``lab-04-rbac`` … On a
shared cluster (a workshop, ``python -m helpers.workshop``) every learner has a *prefix*,
and the same namespaces are ``ws1-07-controller-ns``, ``ws1-07-lab-04-rbac`` …, so that
learners never meet. Every notebook, lab and manifest takes its names from here:

- :func:`prefix` — ``COURSE_PREFIX``, else the prefix the workshop wrote into the
  kubeconfig's current context, else '' (no prefix);
- :func:`ns` / :func:`cluster_scoped` — a course name under the prefix;
- :func:`localize` — a manifest's text with the course's names under the prefix;
- :func:`manifests_dir` — the course's manifests, localized for you (``$MANIFESTS`` in
  ``%%bash`` cells), and :func:`shell_env`, the variables ``connect()`` exports for them.

    >>> ns("controller-ns", prefix="ws1-07"), ns("controller-ns", prefix="")
    ('ws1-07-controller-ns', 'controller-ns')
    >>> cluster_scoped("audit-node-reader", prefix="ws1-07")
    'ws1-07-audit-node-reader'
    >>> localize("namespace: controller-ns  # user system:serviceaccount:controller-ns:x", "p")
    'namespace: p-controller-ns  # user system:serviceaccount:p-controller-ns:x'
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from .cluster.node import starts_its_own
from .cluster.settings import PREFIX_ENV, settings

__all__ = [
    "CLUSTER_SCOPED",
    "EXTENSION",
    "MANIFESTS",
    "NAMESPACES",
    "PREFIX_ENV",
    "cluster_scoped",
    "course_names",
    "is_course_namespace",
    "kubeconfig_extension",
    "localize",
    "manifest",
    "manifests_dir",
    "ns",
    "prefix",
    "prefix_of_kubeconfig",
    "shell_env",
    "unprefixed",
    "valid_prefix",
    "workshop",
]

#: The environment variable that sets the prefix explicitly.
#: The kubeconfig context extension that carries the prefix (a workshop writes it).
EXTENSION = "sa-course.io/course"
#: The course's manifests, as committed (no prefix).
MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"

#: Every namespace the course creates (and deletes), and who owns it.
NAMESPACES: dict[str, str] = {
    "setup-ns": "notebook 00",
    "controller-ns": "notebooks 01, 04, 05, 06, 07",
    "controller-ns-demo": "notebook 01",
    "legacy-ns": "notebook 02",
    "bound-ns": "notebook 03",
    "trust-ns": "notebook 08",
    "lifetimes-ns": "notebook 09",
    "legacy-lifecycle-ns": "notebook 10",
    "audit-good": "notebook 11",
    "audit-bad": "notebook 11",
    "become-ns": "notebook 12",
    "kubelet-ns": "notebook 13",
    "audit-trail-ns": "notebook 14",
    "rotation-ns": "notebook 15",
    "podcert-ns": "notebook 16",
    "trusted-ns": "notebook 17",
    "other-ns": "notebook 17",
    "lab-02-leak": "lab 02",
    "lab-04-rbac": "lab 04",
    "lab-07-diag": "lab 07",
    "lab-08-ext": "lab 08",
    "lab-11-lock": "lab 11",
    "lab-12-become": "lab 12",
    "lab-16-identity": "lab 16",
    "lab-17-trust": "lab 17",
    "lab-17-elsewhere": "lab 17",
}

#: The cluster-scoped objects the course creates, and who creates them.
CLUSTER_SCOPED: dict[str, str] = {
    "controller-ns-auth-delegator": "notebook 07 (ClusterRoleBinding)",
    "audit-node-reader": "notebook 11 (ClusterRole)",
    "audit-good-operator-reads-nodes": "notebook 11 (ClusterRoleBinding)",
    "pod-identity-signer": "notebook 16 (ClusterRole, ClusterRoleBinding; the signer's name)",
    "public-issuer-discovery": "notebook 17 (ClusterRoleBinding, local cluster only)",
}

_PREFIX_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")
#: The longest course name, so that a prefixed name stays a valid namespace (63 characters).
_LONGEST = max(len(n) for n in [*NAMESPACES, *CLUSTER_SCOPED])


def valid_prefix(value: str) -> str:
    """``value`` if it can prefix every course name (a DNS label of at most 20 characters).

    >>> valid_prefix("ws1-07")
    'ws1-07'
    >>> valid_prefix("WS 1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: The prefix 'WS 1' is not a DNS label ...: pick one like ws1-07.
    """
    if not _PREFIX_RE.match(value) or len(value) + 1 + _LONGEST > 63:
        raise ValueError(
            f"The prefix {value!r} is not a DNS label of 1-20 lowercase letters, digits "
            "and '-': pick one like ws1-07."
        )
    return value


def kubeconfig_extension(path: Path) -> dict:
    """The course's extension in the current context of kubeconfig ``path`` ({} if none)."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    current = doc.get("current-context")
    for ctx in doc.get("contexts") or []:
        if ctx.get("name") != current:
            continue
        for ext in (ctx.get("context") or {}).get("extensions") or []:
            if ext.get("name") == EXTENSION:
                return dict(ext.get("extension") or {})
    return {}


def prefix_of_kubeconfig(path: Path) -> str:
    """The prefix in the current context of kubeconfig ``path``, or ''."""
    return str(kubeconfig_extension(path).get("prefix") or "")


def _backend() -> str:
    """The backend ``COURSE_BACKEND`` names, as the cluster layer reads it, or ''."""
    from .cluster import wanted_backend

    return wanted_backend() or ""


def workshop() -> str:
    """The workshop this process's kubeconfig was handed out by (its name), or ''."""
    if starts_its_own(_backend()):
        return ""
    from .cluster.existing import kubeconfig_path

    return str(kubeconfig_extension(kubeconfig_path()).get("workshop") or "")


@cache
def _prefix(explicit: str | None, backend: str, kubeconfig: str) -> str:
    if explicit is not None:
        return valid_prefix(explicit) if explicit else ""
    if not starts_its_own(backend) and kubeconfig:
        found = prefix_of_kubeconfig(Path(kubeconfig))
        return valid_prefix(found) if found else ""
    return ""


def prefix() -> str:
    """This process's prefix: ``COURSE_PREFIX``, else the workshop kubeconfig's, else ''."""
    backend = _backend()
    kubeconfig = ""
    if not starts_its_own(backend):
        from .cluster.existing import kubeconfig_path

        kubeconfig = str(kubeconfig_path())
    return _prefix(settings().prefix, backend, kubeconfig)


def _join(base: str, prefix_: str | None) -> str:
    p = prefix() if prefix_ is None else prefix_
    return f"{p}-{base}" if p else base


def ns(base: str, prefix: str | None = None) -> str:
    """Course namespace ``base`` under the prefix (``controller-ns`` → ``ws1-07-controller-ns``)."""
    if base not in NAMESPACES:
        raise KeyError(f"{base!r} is not one of the course's namespaces ({', '.join(NAMESPACES)})")
    return _join(base, prefix)


def cluster_scoped(base: str, prefix: str | None = None) -> str:
    """The name of cluster-scoped course object ``base`` under the prefix."""
    if base not in CLUSTER_SCOPED:
        raise KeyError(f"{base!r} is not one of the course's cluster-scoped objects")
    return _join(base, prefix)


def course_names(prefix: str | None = None) -> dict[str, str]:
    """Every course name (namespaces and cluster-scoped objects) → its name under the prefix."""
    return {b: _join(b, prefix) for b in [*NAMESPACES, *CLUSTER_SCOPED]}


def unprefixed(name: str, prefix: str | None = None) -> str:
    """The course name behind ``name`` (``ws1-07-controller-ns`` → ``controller-ns``)."""
    p = globals()["prefix"]() if prefix is None else prefix
    return name[len(p) + 1 :] if p and name.startswith(f"{p}-") else name


def is_course_namespace(name: str, prefix: str | None = None) -> bool:
    """Is ``name`` one of the course's namespaces under the prefix?"""
    return (
        unprefixed(name, prefix) in NAMESPACES and _join(unprefixed(name, prefix), prefix) == name
    )


# Longest first, so that ``controller-ns-auth-delegator`` is one name, not ``controller-ns``.
_NAME_RE = re.compile(
    r"(?<![\w.-])("
    + "|".join(re.escape(n) for n in sorted([*NAMESPACES, *CLUSTER_SCOPED], key=len, reverse=True))
    + r")(?![\w-])"
)


def localize(text: str, prefix: str | None = None) -> str:
    """``text`` (a manifest, a command) with every course name under the prefix.

    A name counts only as a whole word: ``controller-ns`` in ``namespace: controller-ns``
    and in ``system:serviceaccount:controller-ns:x``, not in ``controller-nsx``.
    """
    p = globals()["prefix"]() if prefix is None else prefix
    if not p:
        return text
    return _NAME_RE.sub(lambda m: f"{p}-{m.group(1)}", text)


def manifests_dir(prefix: str | None = None) -> Path:
    """The course's manifests with your names: the committed ones, or a localized copy."""
    p = globals()["prefix"]() if prefix is None else prefix
    if not p:
        return MANIFESTS
    from .cluster.config import cache_dir

    out = cache_dir() / "manifests" / p
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted(MANIFESTS.glob("*.yaml")):
        dst = out / src.name
        text = localize(src.read_text(), p)
        if not dst.exists() or dst.read_text() != text:
            dst.write_text(text)
    return out


def manifest(name: str) -> str:
    """The path of course manifest ``name`` (``"01-controller-sa.yaml"``) with your names."""
    if not (MANIFESTS / name).is_file():
        raise FileNotFoundError(f"There is no manifest {name} in {MANIFESTS}.")
    return str(manifests_dir() / name)


def shell_env(prefix: str | None = None) -> dict[str, str]:
    """What ``%%bash`` cells read: ``$MANIFESTS``, ``$CONTROLLER_NS``, ``$LIFETIMES_NS`` …

    One variable per course namespace, its name in capitals with ``_`` (``lab-04-rbac`` →
    ``$LAB_04_RBAC``; a name ending in ``-ns`` keeps it: ``$CONTROLLER_NS``).
    """
    env = {"MANIFESTS": str(manifests_dir(prefix))}
    for base in NAMESPACES:
        env[base.upper().replace("-", "_")] = ns(base, prefix)
    return env
