"""GCP: regions like europe-west1, zones like europe-west1-b, and n2-standard sizes (4 GB per vCPU).

A zone and a project are required: GCP has no default zone for a disk and an instance.
"""

from __future__ import annotations

import re

from .spec import CloudSpec

CLOUD = CloudSpec(
    name="gcp",
    region_pattern=r"[a-z]+-[a-z]+[0-9]",
    example_region="europe-west1",
    zone_pattern=lambda region: re.escape(region) + r"-[a-z]",
    example_zone=lambda region: f"{region}-b",
    max_data_disk_gb=65_536,
    image_pattern=r"(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/images/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?",
    example_image="projects/debian-cloud/global/images/debian-12-bookworm-v20250101",
    catalog=(
        ("n2-standard-8", 8, 32768),
        ("n2-standard-16", 16, 65536),
        ("n2-standard-32", 32, 131072),
        ("n2-standard-48", 48, 196608),
        ("n2-standard-64", 64, 262144),
        ("n2-standard-80", 80, 327680),
        ("n2-standard-96", 96, 393216),
        ("n2-standard-128", 128, 524288),
    ),
    requires_zone=True,
    requires_project=True,
    sdk="pulumi_gcp",
    provider_keys={"gcp:region": "region", "gcp:project": "project"},
    machine_type="gcp:compute/instance:Instance",
    # terraform-provider-google compute_instance: machine_type on a started instance requires
    # stopping it (allow_stopping_for_update, which the program sets).
    user_data_input="metadata.user-data",
    restart_inputs=("machineType",),
    image_input="bootDisk.initializeParams.image",
    mock_outputs={
        "gcp:compute/address:Address": {"address": "203.0.113.30"},
        "gcp:compute/disk:Disk": {"name": "{name}"},
        "gcp:compute/resourcePolicy:ResourcePolicy": {"name": "{name}"},
    },
    mock_calls={
        "gcp:compute/getImage:getImage": {
            "selfLink": "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-mock",
            "name": "debian-12-mock",
            "family": "debian-12",
        }
    },
)
