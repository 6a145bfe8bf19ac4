"""What every cloud module declares: its region and zone rules, catalog, VM resource and mock facts."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    # The Pulumi SDK the cloud's host module imports (requirements.txt pins it).
    sdk: str = ""
    # The provider's own config keys that must agree with vm.<key>: {"aws:region": "region"}.
    provider_keys: Mapping[str, str] = field(default_factory=dict)
    # The VM resource: its Pulumi type, its input holding the boot image (ignored unless vm.image
    # is set), and the top-level inputs whose in-place update stops and starts it (the plan says
    # so: every node goes down at once).
    machine_type: str = ""
    image_input: str = ""
    # The input that carries cloud-init to the VM (dots into objects), and whether the cloud
    # wants it base64-encoded there.
    user_data_input: str = ""
    user_data_base64: bool = False
    restart_inputs: tuple[str, ...] = ()
    # What the mocks (tools/mockrun.py) answer for this cloud: computed outputs the program reads,
    # by resource type, each value a template filled from the resource's name and inputs
    # ("{name}-key"), and the results of the lookups it invokes, by function token.
    mock_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mock_calls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def region_ok(self, region: str) -> bool:
        return re.fullmatch(self.region_pattern, region) is not None

    def zone_ok(self, region: str, zone: str) -> bool:
        return re.fullmatch(self.zone_pattern(region), zone) is not None

    def size_of(self, name: str) -> tuple[int, int] | None:
        return next(((cpus, memory) for size, cpus, memory in self.catalog if size == name), None)

    def smallest_fitting(self, fits: Callable[[int, int], bool]) -> Size | None:
        """The first size for which `fits(cpus, memory_mb)` holds."""
        return next((entry for entry in self.catalog if fits(entry[1], entry[2])), None)
