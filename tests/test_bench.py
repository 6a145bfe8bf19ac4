"""The benchmark's cases are every stack file (placeholders filled) and a 1,000-node density; it
runs them each in a fresh interpreter and shows a failing case's error. Every stack file's
evaluation under mocks is the snapshot tests' (tests/test_plan.py); here the smallest stack
and the largest case go through the benchmark itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO
from tools.mockrun import stack_names


def test_the_bench_cases_are_every_stack_file_and_a_large_density():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench
    finally:
        sys.path.remove(str(REPO / "bench"))
    assert set(bench.cases()) == set(stack_names()) | {"custom-1000-nodes"}


def test_bench_runs_the_smallest_stack_and_the_largest_case():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py"), "--only", "dev", "--only", "custom-1000-nodes"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"dev", "custom-1000-nodes"}
    assert rows["custom-1000-nodes"][0] == "1000" and rows["dev"][0] == "8"


@pytest.mark.parametrize("flag", ["--case", "--only"])
def test_bench_shows_the_error_of_a_failing_case(flag):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py"), flag, "no-such-case"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "no-such-case" in proc.stderr and "Traceback" not in proc.stderr
