"""Helpers for the course "How Kubernetes authenticates internal access".

Notebooks import from here; everything a learner should not have to read to learn the
lesson lives in this package and is unit-tested. The names a notebook uses:

- the cluster: :func:`connect` → :class:`Course` (``course.core``, ``course.rbac``,
  ``course.authn``, ``course.authz``, ``course.kubectl(...)``, ``course.fresh_namespace(...)``)
- tokens: :class:`Token`, :func:`decode_claims`, :func:`claims_table`, :func:`lifetimes`,
  :func:`verify_offline`
- reviews: :func:`review_token`, :func:`reviews_table`, :func:`whoami`, :func:`can_i`
- pods: :func:`busybox_pod`, :func:`run_pod`, :func:`exec_in_pod`, :func:`read_pod_token`
- names: :func:`ns`, :func:`cluster_scoped`, :func:`manifest` (under a workshop's prefix)
- errors: :class:`Unauthenticated` (401), :class:`Forbidden` (403), :class:`NotFound`,
  :func:`expect_forbidden`, :func:`expect_unauthenticated`
"""

from .accounts import create_legacy_token, create_service_account, create_token
from .course import Course, connect
from .display import as_dict, show_yaml, to_yaml
from .errors import (
    Conflict,
    CourseApiError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
    expect_error,
    expect_forbidden,
    expect_not_found,
    expect_unauthenticated,
    translate_api_errors,
)
from .names import cluster_scoped, manifest, ns
from .pods import (
    TOKEN_DIR,
    ExecResult,
    busybox_pod,
    delete_pod,
    exec_in_pod,
    read_pod_file,
    read_pod_token,
    run_pod,
    wait_for_pod,
)
from .reviews import (
    can_i,
    review_row,
    review_token,
    reviews_table,
    sa_groups,
    sa_username,
    whoami,
)
from .tokens import (
    Token,
    claims_table,
    decode_claims,
    decode_header,
    flatten_claims,
    kid_of_public_key,
    lifetimes,
    mask,
    verify_offline,
)

__all__ = [
    "TOKEN_DIR",
    "Conflict",
    "Course",
    "CourseApiError",
    "ExecResult",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Token",
    "Unauthenticated",
    "as_dict",
    "busybox_pod",
    "can_i",
    "claims_table",
    "cluster_scoped",
    "connect",
    "create_legacy_token",
    "create_service_account",
    "create_token",
    "decode_claims",
    "decode_header",
    "delete_pod",
    "exec_in_pod",
    "expect_error",
    "expect_forbidden",
    "expect_not_found",
    "expect_unauthenticated",
    "flatten_claims",
    "kid_of_public_key",
    "lifetimes",
    "manifest",
    "mask",
    "ns",
    "read_pod_file",
    "read_pod_token",
    "review_row",
    "review_token",
    "reviews_table",
    "run_pod",
    "sa_groups",
    "sa_username",
    "show_yaml",
    "to_yaml",
    "translate_api_errors",
    "verify_offline",
    "wait_for_pod",
    "whoami",
]
