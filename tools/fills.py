"""Example values for the target stacks' PLACEHOLDERs, as an operator would fill them.

Used wherever a stack with placeholders must evaluate without a real operator: the tests,
the benchmark, and `pulumi config set --path` in the engine tests. None of it is usable for
real: the SSH key has no private half and the addresses are documentation ranges.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from model.clouds import CLOUDS, CloudSpec

REPO = Path(__file__).resolve().parent.parent

# A well-formed ed25519 public key whose "private half" never existed (32 bytes of 0..31).
TEST_SSH_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))).decode()
    + " tests@aurigraph"
)
OPERATOR_CIDR = "198.51.100.0/24"  # TEST-NET-2
VM_FILLS = {"vm.sshPublicKey": TEST_SSH_KEY, "vm.adminCidrs": [OPERATOR_CIDR]}
EXAMPLE_PROJECT = "aurigraph-test"


def _cloud_fills(cloud: CloudSpec) -> dict[str, Any]:
    """A VM stack's fills; a cloud that needs a project gets one, in vm.project and in the
    provider key that must agree with it."""
    if not cloud.requires_project:
        return dict(VM_FILLS)
    project = {key: EXAMPLE_PROJECT for key, vm_key in cloud.provider_keys.items() if vm_key == "project"}
    return {**VM_FILLS, "vm.project": EXAMPLE_PROJECT, **project}


FILLS: dict[str, dict[str, Any]] = {
    "ssh": {"ssh.cpus": 64, "ssh.memoryMb": 262144},
    **{name: _cloud_fills(cloud) for name, cloud in CLOUDS.items()},
}


def fills_for(stack: str, root: Path = REPO) -> dict[str, Any]:
    """Config paths -> example values for the stack's placeholders ({} when it has none)."""
    text = (root / f"Pulumi.{stack}.yaml").read_text()
    if "PLACEHOLDER" not in text:
        return {}
    return FILLS[yaml.safe_load(text)["config"]["aurigraph-cluster:target"]]
