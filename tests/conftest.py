"""Fixtures: the program evaluated under mocks, once per stack file. Helpers live in tests/helpers.py."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tools.mockrun  # noqa: E402
from tools.fills import fills_for  # noqa: E402
from tools.mockrun import ProgramRun, run_program  # noqa: E402

# The suite evaluates the same stack with the same config many times; each repeat gets a copy.
tools.mockrun.MEMO = {}


@functools.cache
def _stack_run(stack: str) -> ProgramRun:
    run = run_program(stack, fills_for(stack))
    assert run.error is None, f"stack {stack} failed under mocks: {run.error}"
    return run


@pytest.fixture
def stack_run():
    """stack_run('option-b') -> the recorded evaluation of Pulumi.option-b.yaml (cached, read-only),
    with a target stack's PLACEHOLDERs filled as an operator would."""
    return _stack_run
