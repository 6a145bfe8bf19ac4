"""A VM in GCP: its own network and subnet, firewall rules, Debian 12, a data disk with a snapshot
schedule (a resource policy attached to it), cloud-init."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from model.clouds import CLOUDS
from model.names import gcp_label_value

from . import SNAPSHOT_START, VmHost, VmHostArgs, user_data

DATA_DISK_NAME = "aurigraph-data"
TAG = "aurigraph"


class GcpHost(VmHost):
    cloud = CLOUDS["gcp"]

    def build(self, name: str, args: VmHostArgs) -> tuple[pulumi.CustomResource, pulumi.Output[str]]:
        vm, stack = args.vm, args.stack
        labels = {"aurigraph-stack": gcp_label_value(stack)}
        child = pulumi.ResourceOptions(parent=self)
        common = dict(project=vm.project, opts=child)

        network = gcp.compute.Network(f"{name}-network", auto_create_subnetworks=False, **common)
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet", network=network.id, region=vm.region, ip_cidr_range="10.42.1.0/24", **common
        )
        # GCP refuses a firewall rule that mixes IPv4 and IPv6 sources: one rule per family.
        for rule in args.firewall:
            for suffix, cidrs in (("", rule.ipv4), ("-v6", rule.ipv6)):
                if cidrs:
                    gcp.compute.Firewall(
                        f"{name}-allow-{rule.name}{suffix}",
                        network=network.id,
                        direction="INGRESS",
                        source_ranges=cidrs,
                        target_tags=[TAG],
                        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(rule.port)])],
                        **common,
                    )
        address = gcp.compute.Address(f"{name}-ip", region=vm.region, **common)
        data = gcp.compute.Disk(
            f"{name}-data",
            zone=vm.zone,
            size=vm.data_disk_gb,
            type="pd-balanced",
            labels=labels,
            project=vm.project,
            opts=self.disk_options(),
        )
        # Attached, not set on the disk: the policy changes without touching the disk.
        b = args.backup
        schedule = (
            gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleArgs(
                daily_schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleDailyScheduleArgs(
                    days_in_cycle=1, start_time=SNAPSHOT_START
                )
            )
            if b.snapshot_every_hours == 24
            else gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleArgs(
                hourly_schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleHourlyScheduleArgs(
                    hours_in_cycle=b.snapshot_every_hours, start_time=SNAPSHOT_START
                )
            )
        )
        snapshots = gcp.compute.ResourcePolicy(
            f"{name}-snapshots",
            region=vm.region,
            description=f"aurigraph {stack}: data disk snapshots",
            snapshot_schedule_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyArgs(
                schedule=schedule,
                retention_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyRetentionPolicyArgs(
                    max_retention_days=b.snapshot_retention_days, on_source_disk_delete="KEEP_AUTO_SNAPSHOTS"
                ),
                snapshot_properties=gcp.compute.ResourcePolicySnapshotSchedulePolicySnapshotPropertiesArgs(
                    labels=labels, storage_locations=vm.region
                ),
            ),
            **common,
        )
        # A disk takes one snapshot schedule: a new one is attached only after the old is detached.
        gcp.compute.DiskResourcePolicyAttachment(
            f"{name}-snapshots",
            name=snapshots.name,
            disk=data.name,
            zone=vm.zone,
            project=vm.project,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        image = vm.image or gcp.compute.get_image(family="debian-12", project="debian-cloud").self_link
        self.instance = gcp.compute.Instance(
            f"{name}-vm",
            machine_type=args.size,
            zone=vm.zone,
            tags=[TAG],
            labels=labels,
            # A new vm.size stops the VM for the change (the provider refuses it otherwise): the
            # plan says so, as a restart of the whole host.
            allow_stopping_for_update=True,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(image=image, size=30)
            ),
            attached_disks=[gcp.compute.InstanceAttachedDiskArgs(source=data.id, device_name=DATA_DISK_NAME)],
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(
                    subnetwork=subnet.id,
                    access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=address.address)],
                )
            ],
            metadata={
                "ssh-keys": f"{vm.ssh_user}:{vm.ssh_public_key}",
                "block-project-ssh-keys": "true",
                "user-data": user_data(args, self.host_key, f"/dev/disk/by-id/google-{DATA_DISK_NAME}"),
            },
            project=vm.project,
            opts=self.machine_options(),
        )
        return self.instance, address.address


create = GcpHost.create
