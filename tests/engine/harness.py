"""The engine tests' CLI: tools/engine.py finds it; here a missing one skips locally and fails in CI."""

from __future__ import annotations

import os

import pytest

from tools.engine import find_engine_cli


def engine_cli() -> str:
    """The pulumi CLI to use; skips locally (fails in CI) when it or the stand-ins are missing."""
    path, missing = find_engine_cli()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"engine tests need the real Pulumi CLI in CI: {missing}")
        pytest.skip(str(missing))
    return path
