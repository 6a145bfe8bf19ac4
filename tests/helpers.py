"""What the tests share besides fixtures: resource types, placeholder fills, real-tool lookup."""

from __future__ import annotations

import base64
import os
import shutil
import socket
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
DOCKER_PROVIDER = "pulumi:providers:docker"


# A well-formed ed25519 public key whose "private half" never existed (32 bytes of 0..31).
TEST_SSH_KEY = "ssh-ed25519 " + base64.b64encode(
    b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))).decode() + " tests@aurigraph"
OPERATOR_CIDR = "198.51.100.0/24"  # TEST-NET-2
# What an operator fills into the target stacks' PLACEHOLDERs, for evaluating them in tests.
VM_FILLS = {"vm.sshPublicKey": TEST_SSH_KEY, "vm.adminCidrs": [OPERATOR_CIDR]}
FILLS = {
    "ssh": {"ssh.cpus": 64, "ssh.memoryMb": 262144},
    "aws": VM_FILLS,
    "azure": VM_FILLS,
    "gcp": {**VM_FILLS, "vm.project": "aurigraph-test"},
}


def fills_for(stack: str) -> dict:
    text = (REPO / f"Pulumi.{stack}.yaml").read_text()
    if "PLACEHOLDER" not in text:
        return {}
    return FILLS[yaml.safe_load(text)["config"]["aurigraph-cluster:target"]]


def free_port() -> int:
    """A TCP port free on loopback right now, for a real server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    """The path of a real tool; missing means skip locally, but fail in CI."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI and is not installed (.ci/run installs it)")
    pytest.skip(f"{name} not installed")
