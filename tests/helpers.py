"""What the tests share besides fixtures: resource types and real-tool lookup.

Placeholder fills for the target stacks are in tools/fills.py (the benchmark uses them too).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
DOCKER_PROVIDER = "pulumi:providers:docker"
# Eight ranges covering all of IPv4 but 0.0.0.0/8: far too broad, though they never add up to /0.
ALL_IPV4_BUT_0_8 = (
    "1.0.0.0/8",
    "2.0.0.0/7",
    "4.0.0.0/6",
    "8.0.0.0/5",
    "16.0.0.0/4",
    "32.0.0.0/3",
    "64.0.0.0/2",
    "128.0.0.0/1",
)


def env(reg) -> dict[str, str]:
    """A recorded container's environment as a dict."""
    return dict(e.split("=", 1) for e in reg.inputs.get("envs", []))


def require_tool(name: str) -> str:
    """The path of a real tool; missing means skip locally, but fail in CI."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI and is not installed (.ci/run installs it)")
    pytest.skip(f"{name} not installed")


def service_totals(stack: str) -> tuple[int, float, int]:
    """(containers, CPUs, memory MB) of the services the stack runs, from the registry."""
    from model.services import deployed
    from tools.fills import fills_for
    from tools.mockrun import stack_settings

    settings = stack_settings(stack, fills_for(stack))
    services = deployed(settings.features)
    return (
        len(services),
        sum(s.cpus for s in services),
        sum(s.memory_limit(settings.cache.max_memory_mb) for s in services),
    )
