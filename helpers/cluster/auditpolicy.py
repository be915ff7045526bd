"""The audit policy both course clusters run with, and the flags that turn it on.

The course teaches to read the audit log: which token (its JTI, ``credential-id``) was
issued when and used for what, legacy-token use, stale tokens. So both the local cluster
and kind log every request at ``Metadata`` level — who, what, when, the answer and the
annotations, never a request or response body (no Secret data, no token) — except the
noise of a cluster at rest. The log lives with the cluster (the local cluster's state
directory, kind's node container) and goes when the cluster goes.

    >>> import yaml
    >>> policy = yaml.safe_load(POLICY)
    >>> policy["kind"], policy["rules"][-1]
    ('Policy', {'level': 'Metadata'})
    >>> apiserver_flags("/p.yaml", "/l/audit.log")[:2]
    ['--audit-policy-file=/p.yaml', '--audit-log-path=/l/audit.log']
"""

from __future__ import annotations

__all__ = [
    "IN_KIND_FILES",
    "IN_KIND_LOG",
    "IN_KIND_POLICY",
    "POLICY",
    "apiserver_flags",
    "flag_values",
]

POLICY = """\
# The course's audit policy: every request at Metadata level (who, what, when, the
# answer, the annotations), never a body: no Secret data and no token reaches the log.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
# the noise of a cluster at rest: health checks, leader leases, events, long watches
- level: None
  nonResourceURLs: ["/healthz*", "/livez*", "/readyz*"]
- level: None
  resources:
  - group: "coordination.k8s.io"
    resources: ["leases"]
  - group: ""
    resources: ["events"]
  - group: "events.k8s.io"
    resources: ["events"]
- level: None
  verbs: ["watch"]
# the API server's own loopback client (bootstrapping roles, priority classes, …)
- level: None
  users: ["system:apiserver"]
# the control plane's own controllers reading and updating what they manage
- level: None
  userGroups: ["system:serviceaccounts:kube-system"]
  verbs: ["get", "list", "update", "patch"]
- level: Metadata
"""

#: The directory of the course's own files in kind's node (a bind mount from this machine).
IN_KIND_FILES = "/etc/kubernetes/sa-course"
#: Where kind's node keeps the policy (in that directory) and the log (in the node only).
IN_KIND_POLICY = f"{IN_KIND_FILES}/audit-policy.yaml"
IN_KIND_LOG = "/var/log/kubernetes/audit/audit.log"


def flag_values(policy_file: str, log_file: str) -> dict[str, str]:
    """kube-apiserver's audit flags, by name: log to a file, 50 MB and one old file at most."""
    return {
        "audit-policy-file": policy_file,
        "audit-log-path": log_file,
        "audit-log-maxsize": "50",
        "audit-log-maxbackup": "1",
        "audit-log-format": "json",
    }


def apiserver_flags(policy_file: str, log_file: str) -> list[str]:
    """The same as command-line flags."""
    return [f"--{k}={v}" for k, v in flag_values(policy_file, log_file).items()]
