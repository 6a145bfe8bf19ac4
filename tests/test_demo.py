"""python -m tools.demo, run as a user would: start it, smoke-test it, stop it with Ctrl-C.

The stub fleet picks a free loopback block, so the demo runs beside tests/test_operations.py's
loopback cluster and beside another test run on the same machine.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, require_tool


@pytest.mark.live
def test_demo_starts_the_fleet_prints_next_steps_and_stops_on_ctrl_c():
    require_tool("prometheus"), require_tool("haproxy")
    demo = subprocess.Popen(
        [sys.executable, "-m", "tools.demo"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Ctrl-C stops the demo" in line for line in lines):
            lines.append(demo.stdout.readline())
        text = "".join(lines)
        assert "Ctrl-C stops the demo" in text, text + demo.stderr.read() if demo.poll() is not None else text
        outputs = re.search(r"tools\.smoke --outputs (\S+)", text).group(1)
        done = subprocess.run(
            [sys.executable, "-m", "tools.smoke", "--outputs", outputs],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode in (0, 2), done.stdout + done.stderr  # healthy, or TPS below target on stubs
        assert "validator quorum" in done.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            out, err = demo.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()
            raise AssertionError("the demo did not stop on Ctrl-C (SIGINT) within 30 s") from None
    assert demo.returncode == 0, err
    assert "demo: stopped" in out and "Traceback" not in err
