"""VM sizes per cloud (CPUs, memory MB), smallest first, for sizing a host from the capacity plan.

General-purpose families with 4 GB per vCPU: the cluster's limits are CPU-heavy and its memory
small, and these are on offer in every region. An explicit `vm.size` outside the table is
accepted when `vm.cpus` and `vm.memoryMb` say what it has.
"""

from __future__ import annotations

from typing import Optional

CATALOG: dict[str, tuple[tuple[str, int, int], ...]] = {
    "aws": (("m6i.2xlarge", 8, 32768), ("m6i.4xlarge", 16, 65536), ("m6i.8xlarge", 32, 131072),
            ("m6i.12xlarge", 48, 196608), ("m6i.16xlarge", 64, 262144), ("m6i.24xlarge", 96, 393216),
            ("m6i.32xlarge", 128, 524288)),
    "azure": (("Standard_D8s_v5", 8, 32768), ("Standard_D16s_v5", 16, 65536), ("Standard_D32s_v5", 32, 131072),
              ("Standard_D48s_v5", 48, 196608), ("Standard_D64s_v5", 64, 262144),
              ("Standard_D96s_v5", 96, 393216)),
    "gcp": (("n2-standard-8", 8, 32768), ("n2-standard-16", 16, 65536), ("n2-standard-32", 32, 131072),
            ("n2-standard-48", 48, 196608), ("n2-standard-64", 64, 262144), ("n2-standard-80", 80, 327680),
            ("n2-standard-96", 96, 393216), ("n2-standard-128", 128, 524288)),
}


def size_of(cloud: str, name: str) -> Optional[tuple[int, int]]:
    for size, cpus, memory_mb in CATALOG[cloud]:
        if size == name:
            return cpus, memory_mb
    return None


def smallest_fitting(cloud: str, fits) -> Optional[tuple[str, int, int]]:
    """The first size for which `fits(cpus, memory_mb)` holds."""
    return next((entry for entry in CATALOG[cloud] if fits(entry[1], entry[2])), None)
