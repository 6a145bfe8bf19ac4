"""A VM in AWS: its own VPC and public subnet, a security group, Debian 12, a data volume of its own
(attached, so it survives the instance) with scheduled snapshots (Data Lifecycle Manager),
cloud-init with a pinned host key; with backup.bucket, the S3 bucket the backups are copied to."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws

from model.clouds import CLOUDS
from model.config import BackupConfig
from model.names import s3_bucket_prefix

from ..backup import Bucket
from . import SNAPSHOT_START, VmHost, VmHostArgs, user_data

DEBIAN_OWNER = "136693071363"  # Debian's AWS account, publisher of the official images
DATA_DEVICE_NAME = "/dev/sdf"
# How a Nitro instance names an attached EBS volume, whatever order it arrived in.
NVME_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"
# The tag Data Lifecycle Manager selects the data volume by.
SNAPSHOT_TAG = "aurigraph:snapshots"
DLM_MANAGED_POLICY = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"


def dlm_text(text: str) -> str:
    """Data Lifecycle Manager takes only `[0-9A-Za-z _-]+` in a policy's description and a
    schedule's name (DLM API reference: PolicyDescription, Schedule.Name); a stack name may
    also hold `.`."""
    return re.sub(r"[^0-9A-Za-z _-]", "-", text)


def assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def snapshot_policy(name: str, stack: str, backup: BackupConfig, tags: dict, parent: pulumi.Resource) -> None:
    """Snapshots of every volume tagged SNAPSHOT_TAG=<stack> (the data volume), every
    backup.snapshotEveryHours from SNAPSHOT_START UTC, each kept backup.snapshotRetentionDays."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-snapshot-role", assume_role_policy=assume_role("dlm.amazonaws.com"), tags=tags, opts=child
    )
    aws.iam.RolePolicyAttachment(f"{name}-snapshot-role", role=role.name, policy_arn=DLM_MANAGED_POLICY, opts=child)
    aws.dlm.LifecyclePolicy(
        f"{name}-snapshots",
        description=dlm_text(f"aurigraph {stack} data volume snapshots"),
        execution_role_arn=role.arn,
        state="ENABLED",
        tags=tags,
        opts=child,
        policy_details=aws.dlm.LifecyclePolicyPolicyDetailsArgs(
            resource_types=["VOLUME"],
            target_tags={SNAPSHOT_TAG: stack},
            schedules=[
                aws.dlm.LifecyclePolicyPolicyDetailsScheduleArgs(
                    name=dlm_text(f"every {backup.snapshot_every_hours} h kept {backup.snapshot_retention_days} days"),
                    copy_tags=True,
                    tags_to_add={"aurigraph:stack": stack},
                    create_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs(
                        interval=backup.snapshot_every_hours, interval_unit="HOURS", times=SNAPSHOT_START
                    ),
                    retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs(
                        interval=backup.snapshot_retention_days, interval_unit="DAYS"
                    ),
                )
            ],
        ),
    )


def backup_bucket(
    name: str, stack: str, backup: BackupConfig, tags: dict, parent: pulumi.Resource, protect: bool
) -> tuple[aws.s3.Bucket, aws.iam.InstanceProfile]:
    """A private, encrypted, versioned bucket whose copies expire after backup.bucketRetentionDays,
    and the instance profile that may list it and put into `<stack>/`, never read or delete."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        f"{name}-backups",
        bucket_prefix=s3_bucket_prefix(stack),
        force_destroy=False,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=True),
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-backups",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-backups",
        bucket=bucket.id,
        opts=child,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-backups",
        bucket=bucket.id,
        opts=child,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                )
            )
        ],
    )
    aws.s3.BucketVersioning(
        f"{name}-backups",
        bucket=bucket.id,
        opts=child,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
    )
    days = backup.bucket_retention_days
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-backups",
        bucket=bucket.id,
        opts=child,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-backups",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{stack}/"),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=1
                ),
            )
        ],
    )
    aws.s3.BucketPolicy(
        f"{name}-backups",
        bucket=bucket.id,
        opts=child,
        policy=bucket.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, f"{arn}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            )
        ),
    )
    role = aws.iam.Role(
        f"{name}-backup-role", assume_role_policy=assume_role("ec2.amazonaws.com"), tags=tags, opts=child
    )
    aws.iam.RolePolicy(
        f"{name}-backup-role",
        role=role.id,
        opts=child,
        policy=bucket.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{arn}/{stack}/*"},
                        {
                            "Effect": "Allow",
                            "Action": "s3:ListBucket",
                            "Resource": arn,
                            "Condition": {"StringLike": {"s3:prefix": [f"{stack}/*", f"{stack}/"]}},
                        },
                    ],
                }
            )
        ),
    )
    profile = aws.iam.InstanceProfile(f"{name}-backup-role", role=role.name, tags=tags, opts=child)
    return bucket, profile


class AwsHost(VmHost):
    cloud = CLOUDS["aws"]

    def build(self, name: str, args: VmHostArgs) -> tuple[pulumi.CustomResource, pulumi.Output[str]]:
        vm, stack = args.vm, args.stack
        tags = {"Name": f"aurigraph-{stack}", "aurigraph:stack": stack}
        child = pulumi.ResourceOptions(parent=self)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block="10.42.0.0/16", enable_dns_hostnames=True, tags=tags, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        subnet = aws.ec2.Subnet(
            f"{name}-subnet", vpc_id=vpc.id, cidr_block="10.42.1.0/24", availability_zone=vm.zone, tags=tags, opts=child
        )
        routes = aws.ec2.RouteTable(
            f"{name}-routes",
            vpc_id=vpc.id,
            tags=tags,
            opts=child,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
        )
        aws.ec2.RouteTableAssociation(f"{name}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child)
        firewall = aws.ec2.SecurityGroup(
            f"{name}-firewall",
            vpc_id=vpc.id,
            description=f"aurigraph {stack}",
            tags=tags,
            opts=child,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=rule.port,
                    to_port=rule.port,
                    cidr_blocks=rule.ipv4,
                    ipv6_cidr_blocks=rule.ipv6,
                    description=rule.name,
                )
                for rule in args.firewall
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"], description="all outbound"
                )
            ],
        )
        key = aws.ec2.KeyPair(f"{name}-key", public_key=vm.ssh_public_key, tags=tags, opts=child)
        ami = (
            vm.image
            or aws.ec2.get_ami(
                most_recent=True,
                owners=[DEBIAN_OWNER],
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=["debian-12-amd64-*"]),
                    aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                ],
            ).id
        )
        data = aws.ebs.Volume(
            f"{name}-data",
            availability_zone=subnet.availability_zone,
            size=vm.data_disk_gb,
            type="gp3",
            encrypted=True,
            tags={**tags, SNAPSHOT_TAG: stack},
            opts=self.disk_options(),
        )
        snapshot_policy(name, stack, args.backup, tags, self)
        bucket, profile = (
            backup_bucket(name, stack, args.backup, tags, self, args.protect_data)
            if args.backup.bucket
            else (None, None)
        )
        self.backup_bucket = (
            Bucket(url=pulumi.Output.concat("s3://", bucket.bucket, f"/{stack}/"), region=vm.region) if bucket else None
        )
        self.instance = aws.ec2.Instance(
            f"{name}-vm",
            ami=ami,
            instance_type=args.size,
            subnet_id=subnet.id,
            vpc_security_group_ids=[firewall.id],
            key_name=key.key_name,
            user_data=user_data(args, self.host_key, data.id.apply(lambda vid: NVME_BY_ID + vid.replace("-", ""))),
            # IMDSv2 only, one hop: no container on the bridge network reaches it (the uploader, which
            # needs the instance profile, runs on the host's network; render/cloud_init.py).
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required", http_put_response_hop_limit=1),
            iam_instance_profile=profile.name if profile else None,
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(volume_size=30, volume_type="gp3", encrypted=True),
            tags=tags,
            opts=self.machine_options(),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-data",
            device_name=DATA_DEVICE_NAME,
            volume_id=data.id,
            instance_id=self.instance.id,
            stop_instance_before_detaching=True,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", instance=self.instance.id, tags=tags, opts=child)
        return self.instance, address.public_ip


create = AwsHost.create
