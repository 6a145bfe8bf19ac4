"""AWS: regions like eu-west-1, zones like eu-west-1a, and general-purpose m6i sizes (4 GB per vCPU)."""

from __future__ import annotations

import re

from .spec import CloudSpec

CLOUD = CloudSpec(
    name="aws",
    region_pattern=r"[a-z]{2}(-gov)?-[a-z]+-[0-9]",
    example_region="eu-west-1",
    zone_pattern=lambda region: re.escape(region) + r"[a-z]",
    example_zone=lambda region: f"{region}a",
    max_data_disk_gb=16_384,
    image_pattern=r"ami-[0-9a-f]{8}([0-9a-f]{9})?",
    example_image="ami-0123456789abcdef0",
    catalog=(
        ("m6i.2xlarge", 8, 32768),
        ("m6i.4xlarge", 16, 65536),
        ("m6i.8xlarge", 32, 131072),
        ("m6i.12xlarge", 48, 196608),
        ("m6i.16xlarge", 64, 262144),
        ("m6i.24xlarge", 96, 393216),
        ("m6i.32xlarge", 128, 524288),
    ),
    sdk="pulumi_aws",
    provider_keys={"aws:region": "region"},
    machine_type="aws:ec2/instance:Instance",
    # terraform-provider-aws internal/service/ec2/ec2_instance.go, resourceInstanceUpdate: a new
    # instance_type, or user_data, is applied by stopping the instance and starting it again.
    user_data_input="userData",
    restart_inputs=("instanceType", "userData"),
    image_input="ami",
    # Addresses from TEST-NET-3 (RFC 5737), which never routes.
    mock_outputs={
        "aws:ec2/eip:Eip": {"publicIp": "203.0.113.10"},
        "aws:ec2/keyPair:KeyPair": {"keyName": "{name}-key"},
        "aws:ec2/subnet:Subnet": {"availabilityZone": "eu-west-1a"},
        "aws:iam/instanceProfile:InstanceProfile": {"name": "{name}"},
        "aws:s3/bucket:Bucket": {"bucket": "{bucketPrefix}mock", "arn": "arn:aws:s3:::{bucketPrefix}mock"},
    },
    mock_calls={
        "aws:ec2/getAmi:getAmi": {
            "id": "ami-0debian12mock",
            "name": "debian-12-amd64-20260101-mock",
            "architecture": "x86_64",
        }
    },
)
