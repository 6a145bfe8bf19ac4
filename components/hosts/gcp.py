"""A VM in GCP: its own network and subnet, firewall rules, Debian 12, a data disk, cloud-init."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from model.planning import Plan
from model.settings import Settings
from render.cloud_init import render_cloud_init

from . import Host, VmHostArgs, vm_args, vm_host, wait_for_docker

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
        for rule in args.firewall:
            gcp.compute.Firewall(f"{name}-allow-{rule.name}", network=network.id, direction="INGRESS",
                                 source_ranges=list(rule.cidrs), target_tags=[TAG],
                                 allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(rule.port)])],
                                 **common)
        address = gcp.compute.Address(f"{name}-ip", region=vm.region, **common)
        data = gcp.compute.Disk(f"{name}-data", zone=vm.zone, size=vm.data_disk_gb, type="pd-balanced",
                                labels=labels, project=vm.project,
                                opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data,
                                                            retain_on_delete=True))
        image = gcp.compute.get_image(family="debian-12", project="debian-cloud")
        self.instance = gcp.compute.Instance(
            f"{name}-vm", machine_type=args.size, zone=vm.zone, tags=[TAG], labels=labels,
            boot_disk=gcp.compute.InstanceBootDiskArgs(initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                image=image.self_link, size=30)),
            attached_disks=[gcp.compute.InstanceAttachedDiskArgs(source=data.id, device_name=DATA_DISK_NAME)],
            network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(
                subnetwork=subnet.id,
                access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=address.address)])],
            metadata={
                "ssh-keys": f"{vm.ssh_user}:{vm.ssh_public_key}",
                "block-project-ssh-keys": "true",
                "user-data": render_cloud_init(vm.ssh_user, vm.ssh_public_key,
                                               f"/dev/disk/by-id/google-{DATA_DISK_NAME}"),
            },
            project=vm.project,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data))
        self.address = address.address
        self.ready = wait_for_docker(f"{name}-docker-ready", self.address, vm.ssh_user, self, self.instance)
        self.register_outputs({"address": self.address, "size": args.size})


def create(settings: Settings, plan: Plan) -> Host:
    return vm_host("gcp", GcpHost("gcp", vm_args(settings, plan)), settings.vm.ssh_user)
