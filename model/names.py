"""Names derived from the stack name, made to each consumer's rules.

A Pulumi stack name may hold A-Z, a-z, 0-9, `-`, `_` and `.` (up to 100 characters); the clouds
take less. Each function returns the name unchanged where it is already valid, so no existing
stack's resource is renamed; otherwise the closest valid name, with a short digest of the stack
name where it had to be cut, so two stacks never share one.
"""

from __future__ import annotations

import hashlib
import re


def _digest(stack: str) -> str:
    return hashlib.sha256(stack.encode()).hexdigest()[:6]


# terraform-provider-aws: bucket_prefix is at most 37 characters (63 less the 26 it appends);
# S3 bucket names are lower-case letters, digits, `.` and `-`.
S3_PREFIX_MAX = 37


def s3_bucket_prefix(stack: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-") or "stack"
    prefix = f"aurigraph-{base}-backups-"
    if len(prefix) <= S3_PREFIX_MAX:
        return prefix
    room = S3_PREFIX_MAX - len("aurigraph--") - len(_digest(stack)) - 1
    return f"aurigraph-{base[:room].rstrip('-')}-{_digest(stack)}-"


def gcp_label_value(stack: str) -> str:
    """Compute Engine label values: up to 63 lower-case letters, digits, `_` and `-`."""
    value = re.sub(r"[^a-z0-9_-]", "-", stack.lower())
    return value if len(value) <= 63 else f"{value[:56]}-{_digest(stack)}"


def azure_computer_name(stack: str) -> str:
    """A Linux VM's computer name on Azure: 1 to 64 letters, digits and `-`, not ending in `-`."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"aurigraph-{stack}").rstrip("-")
    return name if len(name) <= 64 else f"{name[:57].rstrip('-')}-{_digest(stack)}"


def docker_name_problem(stack: str) -> str:
    """Docker names (`<stack>-validator-1`) must start with a letter or digit (moby's
    [a-zA-Z0-9][a-zA-Z0-9_.-]); empty when the stack name does."""
    if re.match(r"[A-Za-z0-9]", stack):
        return ""
    return (
        f"stack name {stack!r} starts with {stack[:1]!r}: Docker names built from it (<stack>-validator-1) "
        "must start with a letter or digit; use another stack name"
    )
