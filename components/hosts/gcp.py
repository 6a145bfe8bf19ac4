"""A VM in GCP: its own network and subnet, firewall rules, Debian 12, a data disk, cloud-init."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from model.planning import Plan
from model.settings import Settings
from . import (Host, VmHostArgs, disk_options, generated_host_key, machine_options, user_data, vm_args, vm_host,
               wait_for_docker)

DATA_DISK_NAME = "aurigraph-data"
TAG = "aurigraph"


class GcpHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: VmHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:GcpHost", name, None, opts)
        vm, stack = args.vm, args.stack
        labels = {"aurigraph-stack": stack}
        child = pulumi.ResourceOptions(parent=self)
        common = dict(project=vm.project, opts=child)

        network = gcp.compute.Network(f"{name}-network", auto_create_subnetworks=False, **common)
        subnet = gcp.compute.Subnetwork(f"{name}-subnet", network=network.id, region=vm.region,
                                        ip_cidr_range="10.42.1.0/24", **common)
        # GCP refuses a firewall rule that mixes IPv4 and IPv6 sources: one rule per family.
        for rule in args.firewall:
            for suffix, cidrs in (("", rule.ipv4), ("-v6", rule.ipv6)):
                if cidrs:
                    gcp.compute.Firewall(f"{name}-allow-{rule.name}{suffix}", network=network.id, direction="INGRESS",
                                         source_ranges=cidrs, target_tags=[TAG],
                                         allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(rule.port)])],
                                         **common)
        address = gcp.compute.Address(f"{name}-ip", region=vm.region, **common)
        data = gcp.compute.Disk(f"{name}-data", zone=vm.zone, size=vm.data_disk_gb, type="pd-balanced",
                                labels=labels, project=vm.project, opts=disk_options(self, args))
        image = vm.image or gcp.compute.get_image(family="debian-12", project="debian-cloud").self_link
        self.host_key = generated_host_key(f"{name}-host-key", self, f"aurigraph-{stack}")
        self.instance = gcp.compute.Instance(
            f"{name}-vm", machine_type=args.size, zone=vm.zone, tags=[TAG], labels=labels,
            boot_disk=gcp.compute.InstanceBootDiskArgs(initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                image=image, size=30)),
            attached_disks=[gcp.compute.InstanceAttachedDiskArgs(source=data.id, device_name=DATA_DISK_NAME)],
            network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(
                subnetwork=subnet.id,
                access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=address.address)])],
            metadata={
                "ssh-keys": f"{vm.ssh_user}:{vm.ssh_public_key}",
                "block-project-ssh-keys": "true",
                "user-data": user_data(args, self.host_key, f"/dev/disk/by-id/google-{DATA_DISK_NAME}"),
            },
            project=vm.project,
            opts=machine_options(self, args, "bootDisk.initializeParams.image"))
        self.address = address.address
        self.ready = wait_for_docker(f"{name}-docker-ready", self.address, vm.ssh_user, self.host_key.public, self,
                                     self.instance)
        self.register_outputs({"address": self.address, "size": args.size})


def create(settings: Settings, plan: Plan) -> Host:
    return vm_host("gcp", GcpHost("gcp", vm_args(settings, plan)), settings.vm.ssh_user)
