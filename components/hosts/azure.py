"""A VM in Azure: a resource group, network and NSG, Debian 12, a managed data disk of its own
(attached, so it survives the VM), cloud-init with a pinned host key."""

from __future__ import annotations

import base64

import pulumi
from pulumi_azure_native import compute, network, resources

from model.planning import Plan
from model.settings import Settings
from . import (Host, VmHostArgs, disk_options, generated_host_key, machine_options, user_data, vm_args, vm_host,
               wait_for_docker)

# Azure Native has no marketplace-image lookup; "latest" is resolved by Azure when the VM is
# created and stays that image (the reference itself never changes); vm.image pins a version.
DEBIAN_IMAGE = {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"}
DATA_DEVICE = "/dev/disk/azure/scsi1/lun0"


class AzureHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: VmHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:AzureHost", name, None, opts)
        vm, stack = args.vm, args.stack
        tags = {"aurigraph-stack": stack}
        child = pulumi.ResourceOptions(parent=self)

        group = resources.ResourceGroup(f"{name}-rg", location=vm.region, tags=tags, opts=child)
        common = dict(resource_group_name=group.name, location=vm.region, tags=tags, opts=child)
        vnet = network.VirtualNetwork(f"{name}-vnet", address_space={"address_prefixes": ["10.42.0.0/16"]},
                                      **common)
        subnet = network.Subnet(f"{name}-subnet", resource_group_name=group.name,
                                virtual_network_name=vnet.name, address_prefix="10.42.1.0/24", opts=child)
        # Azure refuses a rule that mixes IPv4 and IPv6 sources: one rule per family.
        firewall = network.NetworkSecurityGroup(f"{name}-nsg", security_rules=[
            network.SecurityRuleArgs(name=f"allow-{rule.name}{suffix}", priority=100 + 2 * i + offset,
                                     direction="Inbound", access="Allow", protocol="Tcp", source_port_range="*",
                                     destination_port_range=str(rule.port), destination_address_prefix="*",
                                     source_address_prefixes=cidrs)
            for i, rule in enumerate(args.firewall)
            for offset, suffix, cidrs in ((0, "", rule.ipv4), (1, "-v6", rule.ipv6)) if cidrs], **common)
        public_ip = network.PublicIPAddress(f"{name}-ip", public_ip_allocation_method="Static",
                                            sku={"name": "Standard"}, **common)
        nic = network.NetworkInterface(f"{name}-nic", network_security_group={"id": firewall.id},
                                       ip_configurations=[{"name": "primary", "subnet": {"id": subnet.id},
                                                           "public_ip_address": {"id": public_ip.id}}],
                                       **common)
        zones = [vm.zone] if vm.zone else None
        self.host_key = generated_host_key(f"{name}-host-key", self, f"aurigraph-{stack}")
        data = compute.Disk(f"{name}-data", resource_group_name=group.name, location=vm.region, tags=tags, zones=zones,
                            disk_size_gb=vm.data_disk_gb, sku={"name": "Premium_LRS"},
                            creation_data={"create_option": "Empty"}, opts=disk_options(self, args))
        custom_data = user_data(args, self.host_key, DATA_DEVICE).apply(lambda text: base64.b64encode(text.encode()).decode())
        self.instance = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=group.name, location=vm.region, tags=tags, zones=zones,
            hardware_profile={"vm_size": args.size},
            os_profile={
                "computer_name": f"aurigraph-{stack}",
                "admin_username": vm.ssh_user,
                "custom_data": custom_data,
                "linux_configuration": {
                    "disable_password_authentication": True,
                    "ssh": {"public_keys": [{"path": f"/home/{vm.ssh_user}/.ssh/authorized_keys",
                                             "key_data": vm.ssh_public_key}]},
                },
            },
            storage_profile={
                "image_reference": {**DEBIAN_IMAGE, "version": vm.image or DEBIAN_IMAGE["version"]},
                "os_disk": {"create_option": "FromImage", "delete_option": "Delete", "disk_size_gb": 30,
                            "managed_disk": {"storage_account_type": "Premium_LRS"}},
                # The data disk is its own resource, attached: detached, not deleted, when the VM goes.
                "data_disks": [{"lun": 0, "create_option": "Attach", "delete_option": "Detach",
                                "managed_disk": {"id": data.id}}],
            },
            network_profile={"network_interfaces": [{"id": nic.id, "primary": True}]},
            opts=machine_options(self, args, "storageProfile.imageReference"))
        self.address = public_ip.ip_address
        self.ready = wait_for_docker(f"{name}-docker-ready", self.address, vm.ssh_user, self.host_key.public, self,
                                     self.instance)
        self.register_outputs({"address": self.address, "size": args.size})


def create(settings: Settings, plan: Plan) -> Host:
    return vm_host("azure", AzureHost("azure", vm_args(settings, plan)), settings.vm.ssh_user)
