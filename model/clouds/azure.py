"""Azure: regions like westeurope, availability zones 1 to 3, and Dsv5 sizes (4 GB per vCPU)."""

from __future__ import annotations

from .spec import CloudSpec

CLOUD = CloudSpec(
    name="azure",
    region_pattern=r"[a-z]+[a-z0-9]*",
    example_region="westeurope",
    zone_pattern=lambda region: r"[1-3]",
    example_zone=lambda region: "1",
    max_data_disk_gb=32_767,
    image_pattern=r"[0-9]+\.[0-9]+\.[0-9]+",
    example_image="0.20250101.1234",
    catalog=(
        ("Standard_D8s_v5", 8, 32768),
        ("Standard_D16s_v5", 16, 65536),
        ("Standard_D32s_v5", 32, 131072),
        ("Standard_D48s_v5", 48, 196608),
        ("Standard_D64s_v5", 64, 262144),
        ("Standard_D96s_v5", 96, 393216),
    ),
    sdk="pulumi_azure_native",
    provider_keys={"azure-native:location": "region"},
    machine_type="azure-native:compute:VirtualMachine",
    # Resizing a virtual machine (hardwareProfile.vmSize) restarts it.
    user_data_input="osProfile.customData",
    user_data_base64=True,
    restart_inputs=("hardwareProfile",),
    image_input="storageProfile.imageReference",
    mock_outputs={
        "azure-native:network:PublicIPAddress": {"ipAddress": "203.0.113.20"},
        "azure-native:resources:ResourceGroup": {"name": "{name}-rg"},
        "azure-native:network:VirtualNetwork": {"name": "{name}-vnet"},
        "azure-native:compute:Disk": {"name": "{name}"},
        # The vault's system-assigned identity.
        "azure-native:dataprotection:BackupVault": {"name": "{name}", "identity": {"principalId": "{name}-principal"}},
    },
)
