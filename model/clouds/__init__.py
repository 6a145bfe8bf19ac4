"""What the pure layers know of each cloud: its region and zone rules and its machine catalog.

One module per cloud (aws, azure, gcp), each defining `CLOUD`. The resources that build a VM
there live in components/hosts/<cloud>.py. Adding a cloud: a module here with its catalog, a
host module there, both registered by name, and a `Pulumi.<cloud>-option-b.yaml` stack file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

# (size name, vCPUs, memory MB), smallest first.
Size = tuple[str, int, int]


@dataclass(frozen=True)
class CloudSpec:
    name: str
    region_pattern: str  # a full match
    example_region: str
    # The zone pattern for a region; None: zones are not named after regions on this cloud.
    zone_pattern: Callable[[str], str]
    example_zone: Callable[[str], str]
    catalog: tuple[Size, ...]
    max_data_disk_gb: int  # the largest data disk the program's disk type allows
    image_pattern: str  # what vm.image looks like here (a full match)
    example_image: str
    requires_zone: bool = False
    requires_project: bool = False
    # The provider's own config keys that must agree with vm.<key>: {"aws:region": "region"}.
    provider_keys: Mapping[str, str] = field(default_factory=dict)

    def region_ok(self, region: str) -> bool:
        return re.fullmatch(self.region_pattern, region) is not None

    def zone_ok(self, region: str, zone: str) -> bool:
        return re.fullmatch(self.zone_pattern(region), zone) is not None

    def size_of(self, name: str) -> Optional[tuple[int, int]]:
        return next(((cpus, memory) for size, cpus, memory in self.catalog if size == name), None)

    def smallest_fitting(self, fits: Callable[[int, int], bool]) -> Optional[Size]:
        """The first size for which `fits(cpus, memory_mb)` holds."""
        return next((entry for entry in self.catalog if fits(entry[1], entry[2])), None)


def _registry() -> dict[str, CloudSpec]:
    from . import aws, azure, gcp

    return {module.CLOUD.name: module.CLOUD for module in (aws, azure, gcp)}


CLOUDS: dict[str, CloudSpec] = _registry()
