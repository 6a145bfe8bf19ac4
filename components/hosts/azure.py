"""A VM in Azure: a resource group, network and NSG, Debian 12, a data disk, cloud-init."""

from __future__ import annotations

import base64

import pulumi
from pulumi_azure_native import compute, network, resources

from model.planning import Plan
from model.settings import Settings
from render.cloud_init import render_cloud_init

from . import Host, VmHostArgs, vm_args, vm_host, wait_for_docker

# Azure Native has no marketplace-image lookup; this reference is resolved by Azure at create
# time ("latest" Debian 12 gen2 image of the Debian publisher).
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
        firewall = network.NetworkSecurityGroup(f"{name}-nsg", security_rules=[
            network.SecurityRuleArgs(name=f"allow-{rule.name}", priority=100 + i, direction="Inbound",
                                     access="Allow", protocol="Tcp", source_port_range="*",
                                     destination_port_range=str(rule.port), destination_address_prefix="*",
                                     source_address_prefixes=list(rule.cidrs))
            for i, rule in enumerate(args.firewall)], **common)
        public_ip = network.PublicIPAddress(f"{name}-ip", public_ip_allocation_method="Static",
                                            sku={"name": "Standard"}, **common)
        nic = network.NetworkInterface(f"{name}-nic", network_security_group={"id": firewall.id},
                                       ip_configurations=[{"name": "primary", "subnet": {"id": subnet.id},
                                                           "public_ip_address": {"id": public_ip.id}}],
                                       **common)
        cloud_init = render_cloud_init(vm.ssh_user, vm.ssh_public_key, DATA_DEVICE)
        self.instance = compute.VirtualMachine(
            f"{name}-vm",
            resource_group_name=group.name, location=vm.region, tags=tags,
            hardware_profile={"vm_size": args.size},
            os_profile={
                "computer_name": f"aurigraph-{stack}",
                "admin_username": vm.ssh_user,
                "custom_data": base64.b64encode(cloud_init.encode()).decode(),
                "linux_configuration": {
                    "disable_password_authentication": True,
                    "ssh": {"public_keys": [{"path": f"/home/{vm.ssh_user}/.ssh/authorized_keys",
                                             "key_data": vm.ssh_public_key}]},
                },
            },
            storage_profile={
                "image_reference": DEBIAN_IMAGE,
                "os_disk": {"create_option": "FromImage", "delete_option": "Delete", "disk_size_gb": 30,
                            "managed_disk": {"storage_account_type": "Premium_LRS"}},
                # Detach, not delete, when the VM goes: the data stays.
                "data_disks": [{"lun": 0, "create_option": "Empty", "disk_size_gb": vm.data_disk_gb,
                                "delete_option": "Detach",
                                "managed_disk": {"storage_account_type": "Premium_LRS"}}],
            },
            network_profile={"network_interfaces": [{"id": nic.id, "primary": True}]},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data))
        self.address = public_ip.ip_address
        self.ready = wait_for_docker(f"{name}-docker-ready", self.address, vm.ssh_user, self, self.instance)
        self.register_outputs({"address": self.address, "size": args.size})


def create(settings: Settings, plan: Plan) -> Host:
    return vm_host("azure", AzureHost("azure", vm_args(settings, plan)), settings.vm.ssh_user)
