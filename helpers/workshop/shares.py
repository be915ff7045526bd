"""Fair shares: what each learner of a workshop may use of the cluster, from its capacity.

A ResourceQuota counts one namespace, and a learner has twenty. So the cap that spans
them all is a *slot*: each node advertises an extended resource per learner
(``slots.sa-course.io/ws1-07``), every container of that learner's Pods claims one (the
LimitRange fills it in, :func:`helpers.workshop.admission.pods_take_a_slot` insists), and
the scheduler places no more than the node offers — in whichever namespace they are.

Each slot then carries at most a per-container share of CPU requests, memory and
ephemeral storage, so a learner's whole claim stays within ``1 / learners`` of what the
nodes offer (less a reserve for the cluster itself).

    >>> cap = Capacity(nodes=1, pods=100, cpu_millis=2000, memory_bytes=8 * 2**30,
    ...                ephemeral_bytes=40 * 2**30)
    >>> s = shares(cap, learners=6)
    >>> s.slots, s.cpu_request_millis, s.memory_limit_bytes // 2**20
    (12, 25, 102)
    >>> shares(cap, learners=40)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    helpers.cluster.errors.ClusterError: This cluster has room for 15 learners ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..cluster.errors import ClusterError

__all__ = ["MIN_SLOTS", "Capacity", "Shares", "capacity", "shares"]

#: Pods a learner needs running at once: notebook 11 and lab 11 run four, and the
#: previous notebook's Pods may still be going away.
MIN_SLOTS = 6
#: More than this is never needed; the rest is left to the cluster.
MAX_SLOTS = 12
#: Of what the nodes offer, this much stays out of the learners' shares.
RESERVE = 0.1
#: Per container, whatever the share: enough for kubectl and curl, no more.
MAX_CPU_REQUEST_MILLIS = 50
MAX_MEMORY_LIMIT = 256 * 2**20
MAX_EPHEMERAL_LIMIT = 1 * 2**30
#: Below these a course Pod does not run: the cluster is too small for the class.
MIN_MEMORY_LIMIT = 64 * 2**20
MIN_EPHEMERAL_LIMIT = 64 * 2**20


@dataclass(frozen=True)
class Capacity:
    """What the schedulable nodes offer, less what already runs on them."""

    nodes: int
    pods: int
    cpu_millis: int
    memory_bytes: int
    ephemeral_bytes: int


@dataclass(frozen=True)
class Shares:
    """One learner's share, per container slot."""

    learners: int
    nodes: int
    slots: int
    cpu_request_millis: int
    memory_limit_bytes: int
    ephemeral_limit_bytes: int

    @property
    def slots_per_node(self) -> int:
        """What each node advertises for each learner."""
        return math.ceil(self.slots / max(1, self.nodes))

    def describe(self) -> str:
        """One line for the preflight and ``up``."""
        return (
            f"each of {self.learners} learners gets {self.slots} Pod slots (one per "
            f"container, across all their namespaces), each with at most "
            f"{self.cpu_request_millis}m CPU requested, "
            f"{self.memory_limit_bytes // 2**20} MiB memory and "
            f"{self.ephemeral_limit_bytes // 2**20} MiB ephemeral storage"
        )


def shares(cap: Capacity, learners: int) -> Shares:
    """Split ``cap`` between ``learners``; a ClusterError if the class does not fit."""
    usable = 1 - RESERVE
    slots = min(MAX_SLOTS, int(cap.pods * usable) // max(1, learners))
    if slots < MIN_SLOTS:
        fit = int(cap.pods * usable) // MIN_SLOTS
        raise ClusterError(
            f"This cluster has room for {fit} learners ({cap.pods} more Pods on "
            f"{cap.nodes} node(s), {MIN_SLOTS} each), not {learners}: ask for fewer "
            "learners, or add nodes."
        )
    memory = min(MAX_MEMORY_LIMIT, int(cap.memory_bytes * usable) // (learners * slots))
    ephemeral = min(MAX_EPHEMERAL_LIMIT, int(cap.ephemeral_bytes * usable) // (learners * slots))
    cpu = min(MAX_CPU_REQUEST_MILLIS, int(cap.cpu_millis * usable) // (learners * slots))
    if memory < MIN_MEMORY_LIMIT or ephemeral < MIN_EPHEMERAL_LIMIT or cpu < 1:
        per = max(1, learners)
        raise ClusterError(
            f"This cluster's memory, storage or CPU split {per} ways leaves too little per "
            f"Pod ({memory // 2**20} MiB memory, {ephemeral // 2**20} MiB storage, {cpu}m "
            "CPU): ask for fewer learners, or add nodes."
        )
    return Shares(learners, cap.nodes, slots, cpu, memory, ephemeral)


def _quantity(value: str) -> float:
    """A Kubernetes quantity as a number (``"2"``, ``"500m"``, ``"8Gi"``, ``"10G"``)."""
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(value))


def capacity(core: Any) -> Capacity:
    """Read the nodes that take Pods, and subtract what the Pods on them request."""
    nodes = [
        n
        for n in core.list_node(_request_timeout=30).items
        if not n.spec.unschedulable
        and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    ]
    names = {n.metadata.name for n in nodes}
    pods = [
        p
        for p in core.list_pod_for_all_namespaces(_request_timeout=30).items
        if p.spec.node_name in names and p.status.phase not in ("Succeeded", "Failed")
    ]
    total = {"pods": 0.0, "cpu": 0.0, "memory": 0.0, "ephemeral-storage": 0.0}
    for n in nodes:
        for k in total:
            total[k] += _quantity(n.status.allocatable.get(k, "0"))
    total["pods"] -= len(pods)
    for p in pods:
        for c in p.spec.containers:
            requests = (c.resources.requests if c.resources else None) or {}
            for k in ("cpu", "memory", "ephemeral-storage"):
                if k in requests:
                    total[k] -= _quantity(requests[k])
    return Capacity(
        nodes=len(nodes),
        pods=max(0, int(total["pods"])),
        cpu_millis=max(0, int(total["cpu"] * 1000)),
        memory_bytes=max(0, int(total["memory"])),
        ephemeral_bytes=max(0, int(total["ephemeral-storage"])),
    )
