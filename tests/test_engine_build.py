"""tests/engine/build: one clear line and a non-zero exit when Go is missing."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.helpers import REPO


def test_build_without_go_says_so_in_one_line(tmp_path):
    # A PATH with bash and coreutils but no go.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "cat", "env"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run(
        [str(bin_dir / "bash"), str(REPO / "tests" / "engine" / "build")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'go' is not on PATH" in lines[0], done.stderr
