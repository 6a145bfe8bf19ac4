"""A VM in Azure: a resource group, network and NSG, Debian 12, a managed data disk of its own
(attached, so it survives the VM) backed up by Azure Disk Backup (scheduled incremental snapshots
in a Backup vault), cloud-init with a pinned host key."""

from __future__ import annotations

import base64

import pulumi
from pulumi_azure_native import authorization, compute, dataprotection, network, resources

from model.clouds import CLOUDS
from model.config import BackupConfig
from model.names import azure_computer_name

from . import SNAPSHOT_START, VmHost, VmHostArgs, user_data

# Azure Native has no marketplace-image lookup; "latest" is resolved by Azure when the VM is
# created and stays that image (the reference itself never changes); vm.image pins a version.
DEBIAN_IMAGE = {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"}
DATA_DEVICE = "/dev/disk/azure/scsi1/lun0"
DISKS = "Microsoft.Compute/disks"
# Built-in roles the Backup vault's identity needs: to read the disk, and to write its snapshots
# into the resource group.
DISK_BACKUP_READER = "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24"
DISK_SNAPSHOT_CONTRIBUTOR = "7efff54f-a5b4-42b5-a1c5-5411624893ce"
OPERATIONAL_STORE = {"data_store_type": "OperationalStore", "object_type": "DataStoreInfoBase"}


def disk_backup(
    name: str,
    group: resources.ResourceGroup,
    location: str,
    disk: compute.Disk,
    backup: BackupConfig,
    tags: dict,
    parent: pulumi.Resource,
) -> None:
    """Azure Disk Backup, Azure's scheduled snapshots: a Backup vault, a policy taking an incremental
    snapshot every backup.snapshotEveryHours (kept backup.snapshotRetentionDays) into the resource
    group, and the disk enrolled in it."""
    child = pulumi.ResourceOptions(parent=parent)
    vault = dataprotection.BackupVault(
        f"{name}-backup-vault",
        resource_group_name=group.name,
        location=location,
        tags=tags,
        identity={"type": "SystemAssigned"},
        properties={"storage_settings": [{"datastore_type": "OperationalStore", "type": "LocallyRedundant"}]},
        opts=child,
    )
    every = "P1D" if backup.snapshot_every_hours == 24 else f"PT{backup.snapshot_every_hours}H"
    # The SDK's types take its *ArgsDict TypedDicts; a plain dict literal is what it serialises.
    policy = dataprotection.BackupPolicy(  # type: ignore[call-overload]
        f"{name}-snapshots",
        resource_group_name=group.name,
        vault_name=vault.name,
        opts=child,
        properties={
            "object_type": "BackupPolicy",
            "datasource_types": [DISKS],
            "policy_rules": [
                {
                    "object_type": "AzureBackupRule",
                    "name": "snapshots",
                    "data_store": OPERATIONAL_STORE,
                    "backup_parameters": {"object_type": "AzureBackupParams", "backup_type": "Incremental"},
                    "trigger": {
                        "object_type": "ScheduleBasedTriggerContext",
                        "schedule": {
                            "repeating_time_intervals": [f"R/2026-01-01T{SNAPSHOT_START}:00+00:00/{every}"],
                            "time_zone": "UTC",
                        },
                        "tagging_criteria": [
                            {"is_default": True, "tag_info": {"tag_name": "Default"}, "tagging_priority": 99}
                        ],
                    },
                },
                {
                    "object_type": "AzureRetentionRule",
                    "name": "Default",
                    "is_default": True,
                    "lifecycles": [
                        {
                            "source_data_store": OPERATIONAL_STORE,
                            "delete_after": {
                                "object_type": "AbsoluteDeleteOption",
                                "duration": f"P{backup.snapshot_retention_days}D",
                            },
                        }
                    ],
                },
            ],
        },
    )
    subscription = group.id.apply(lambda rid: "/".join(rid.split("/")[:3]))
    grants = [
        authorization.RoleAssignment(
            f"{name}-backup-{suffix}",
            principal_id=vault.identity.apply(lambda i: i.principal_id if i else ""),
            principal_type="ServicePrincipal",
            scope=scope,
            role_definition_id=pulumi.Output.concat(
                subscription, "/providers/Microsoft.Authorization/roleDefinitions/", role
            ),
            opts=child,
        )
        for suffix, scope, role in (
            ("disk-reader", disk.id, DISK_BACKUP_READER),
            ("snapshot-contributor", group.id, DISK_SNAPSHOT_CONTRIBUTOR),
        )
    ]
    dataprotection.BackupInstance(
        f"{name}-snapshots",
        resource_group_name=group.name,
        vault_name=vault.name,
        tags=tags,
        properties={
            "object_type": "BackupInstance",
            "friendly_name": disk.name,
            "data_source_info": {
                "object_type": "Datasource",
                "datasource_type": DISKS,
                "resource_type": DISKS,
                "resource_id": disk.id,
                "resource_uri": disk.id,
                "resource_name": disk.name,
                "resource_location": location,
            },
            "policy_info": {
                "policy_id": policy.id,
                "policy_parameters": {
                    "data_store_parameters_list": [
                        {
                            "object_type": "AzureOperationalStoreParameters",
                            "data_store_type": "OperationalStore",
                            "resource_group_id": group.id,
                        }
                    ]
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=grants),
    )


class AzureHost(VmHost):
    cloud = CLOUDS["azure"]

    def build(self, name: str, args: VmHostArgs) -> tuple[pulumi.CustomResource, pulumi.Output[str]]:
        vm, stack = args.vm, args.stack
        tags = {"aurigraph-stack": stack}
        child = pulumi.ResourceOptions(parent=self)

        group = resources.ResourceGroup(f"{name}-rg", location=vm.region, tags=tags, opts=child)
        common = dict(resource_group_name=group.name, location=vm.region, tags=tags, opts=child)
        vnet = network.VirtualNetwork(f"{name}-vnet", address_space={"address_prefixes": ["10.42.0.0/16"]}, **common)
        subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            address_prefix="10.42.1.0/24",
            opts=child,
        )
        # Azure refuses a rule that mixes IPv4 and IPv6 sources: one rule per family.
        firewall = network.NetworkSecurityGroup(
            f"{name}-nsg",
            security_rules=[
                network.SecurityRuleArgs(
                    name=f"allow-{rule.name}{suffix}",
                    priority=100 + 2 * i + offset,
                    direction="Inbound",
                    access="Allow",
                    protocol="Tcp",
                    source_port_range="*",
                    destination_port_range=str(rule.port),
                    destination_address_prefix="*",
                    source_address_prefixes=cidrs,
                )
                for i, rule in enumerate(args.firewall)
                for offset, suffix, cidrs in ((0, "", rule.ipv4), (1, "-v6", rule.ipv6))
                if cidrs
            ],
            **common,
        )
        public_ip = network.PublicIPAddress(
            f"{name}-ip", public_ip_allocation_method="Static", sku={"name": "Standard"}, **common
        )
        nic = network.NetworkInterface(
            f"{name}-nic",
            network_security_group={"id": firewall.id},
            ip_configurations=[
                {"name": "primary", "subnet": {"id": subnet.id}, "public_ip_address": {"id": public_ip.id}}
            ],
            **common,
        )
        zones = [vm.zone] if vm.zone else None
        data = compute.Disk(
            f"{name}-data",
            resource_group_name=group.name,
            location=vm.region,
            tags=tags,
            zones=zones,
            disk_size_gb=vm.data_disk_gb,
            sku={"name": "Premium_LRS"},
            creation_data={"create_option": "Empty"},
            opts=self.disk_options(),
        )
        disk_backup(name, group, vm.region, data, args.backup, tags, self)
        custom_data = user_data(args, self.host_key, DATA_DEVICE).apply(
            lambda text: base64.b64encode(text.encode()).decode()
        )
        # The SDK's types take its *ArgsDict TypedDicts; a plain dict literal is what it serialises.
        self.instance = compute.VirtualMachine(  # type: ignore[call-overload]
            f"{name}-vm",
            resource_group_name=group.name,
            location=vm.region,
            tags=tags,
            zones=zones,
            hardware_profile={"vm_size": args.size},
            os_profile={
                "computer_name": azure_computer_name(stack),
                "admin_username": vm.ssh_user,
                "custom_data": custom_data,
                "linux_configuration": {
                    "disable_password_authentication": True,
                    "ssh": {
                        "public_keys": [
                            {"path": f"/home/{vm.ssh_user}/.ssh/authorized_keys", "key_data": vm.ssh_public_key}
                        ]
                    },
                },
            },
            storage_profile={
                "image_reference": {**DEBIAN_IMAGE, "version": vm.image or DEBIAN_IMAGE["version"]},
                "os_disk": {
                    "create_option": "FromImage",
                    "delete_option": "Delete",
                    "disk_size_gb": 30,
                    "managed_disk": {"storage_account_type": "Premium_LRS"},
                },
                # The data disk is its own resource, attached: detached, not deleted, when the VM goes.
                "data_disks": [
                    {"lun": 0, "create_option": "Attach", "delete_option": "Detach", "managed_disk": {"id": data.id}}
                ],
            },
            network_profile={"network_interfaces": [{"id": nic.id, "primary": True}]},
            opts=self.machine_options(),
        )
        # A static address: known once created (the SDK types it optional).
        return self.instance, public_ip.ip_address.apply(lambda ip: ip or "")


create = AzureHost.create
