"""Docker hosts: each target turns settings into the same shape, a docker provider plus host facts.

The cluster components never ask which target they are on; they get a `Host`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..settings import Settings


@dataclass(frozen=True)
class Host:
    provider: docker.Provider
    # Where the published ports (API frontend, admin UIs) are reached from the operator's side.
    address: pulumi.Input[str]
    # Capacity of the host when known (None: not known, e.g. the local daemon).
    cpus: Optional[float] = None
    memory_mb: Optional[int] = None


def create_host(settings: Settings) -> Host:
    if settings.target == "local":
        from . import local

        return local.create(settings)
    # settings.TARGETS lists only targets implemented here, so this is a programming error.
    raise AssertionError(f"target {settings.target!r} has no host module")
