"""Shared fixtures: the program evaluated under mocks, once per stack file."""

from __future__ import annotations

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

from tools.mockrun import ProgramRun, run_program  # noqa: E402

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
DOCKER_PROVIDER = "pulumi:providers:docker"


@functools.lru_cache(maxsize=None)
def _stack_run(stack: str) -> ProgramRun:
    run = run_program(stack)
    assert run.error is None, f"stack {stack} failed under mocks: {run.error}"
    return run


@pytest.fixture
def stack_run():
    """stack_run('option-b') -> the recorded evaluation of Pulumi.option-b.yaml (cached, read-only)."""
    return _stack_run


def require_tool(name: str) -> str:
    """The path of a real tool; missing means skip locally, but fail in CI."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI and is not installed (.ci/run installs it)")
    pytest.skip(f"{name} not installed")
