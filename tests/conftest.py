"""Shared fixtures: the program evaluated under mocks, once per stack file."""

from __future__ import annotations

import base64
import functools
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from tools.mockrun import ProgramRun, run_program  # noqa: E402

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


@functools.lru_cache(maxsize=None)
def _stack_run(stack: str) -> ProgramRun:
    run = run_program(stack, fills_for(stack))
    assert run.error is None, f"stack {stack} failed under mocks: {run.error}"
    return run


@pytest.fixture
def stack_run():
    """stack_run('option-b') -> the recorded evaluation of Pulumi.option-b.yaml (cached, read-only),
    with a target stack's PLACEHOLDERs filled as an operator would."""
    return _stack_run


def free_port() -> int:
    """A TCP port free on loopback right now, for a real server a test starts."""
    import socket

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
