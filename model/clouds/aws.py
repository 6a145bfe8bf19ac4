"""AWS: regions like eu-west-1, zones like eu-west-1a, and general-purpose m6i sizes (4 GB per vCPU)."""

from __future__ import annotations

import re

from . import CloudSpec

CLOUD = CloudSpec(
    name="aws",
    region_pattern=r"[a-z]{2}(-gov)?-[a-z]+-[0-9]",
    example_region="eu-west-1",
    zone_pattern=lambda region: re.escape(region) + r"[a-z]",
    example_zone=lambda region: f"{region}a",
    max_data_disk_gb=16_384,
    image_pattern=r"ami-[0-9a-f]{8}([0-9a-f]{9})?",
    example_image="ami-0123456789abcdef0",
    catalog=(("m6i.2xlarge", 8, 32768), ("m6i.4xlarge", 16, 65536), ("m6i.8xlarge", 32, 131072),
             ("m6i.12xlarge", 48, 196608), ("m6i.16xlarge", 64, 262144), ("m6i.24xlarge", 96, 393216),
             ("m6i.32xlarge", 128, 524288)),
    provider_keys={"aws:region": "region"},
)
