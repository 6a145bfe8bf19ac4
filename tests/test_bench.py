"""The benchmark runs every stack file, placeholders filled, and shows a failing case's error."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO
from tools.mockrun import stack_names


def test_bench_runs_every_stack_file():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0] for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert rows == set(stack_names()) | {"custom-1000-nodes"}


def test_bench_shows_the_error_of_a_failing_case():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py"), "--case", "no-such-case"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "no-such-case" in proc.stderr and "Traceback" not in proc.stderr
