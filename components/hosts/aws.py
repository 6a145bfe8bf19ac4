"""A VM in AWS: its own VPC and public subnet, a security group, Debian 12, a data volume of its own
(attached, so it survives the instance), cloud-init with a pinned host key."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from model.planning import Plan
from model.settings import Settings

from . import (Host, VmHostArgs, disk_options, generated_host_key, machine_options, user_data, vm_args, vm_host,
               wait_for_docker)

DEBIAN_OWNER = "136693071363"  # Debian's AWS account, publisher of the official images
DATA_DEVICE_NAME = "/dev/sdf"
# How a Nitro instance names an attached EBS volume, whatever order it arrived in.
NVME_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"


class AwsHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: VmHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:AwsHost", name, None, opts)
        vm, stack = args.vm, args.stack
        tags = {"Name": f"aurigraph-{stack}", "aurigraph:stack": stack}
        child = pulumi.ResourceOptions(parent=self)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block="10.42.0.0/16", enable_dns_hostnames=True, tags=tags,
                          opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        subnet = aws.ec2.Subnet(f"{name}-subnet", vpc_id=vpc.id, cidr_block="10.42.1.0/24",
                                availability_zone=vm.zone, tags=tags, opts=child)
        routes = aws.ec2.RouteTable(f"{name}-routes", vpc_id=vpc.id, tags=tags, opts=child,
                                    routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)])
        aws.ec2.RouteTableAssociation(f"{name}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child)
        firewall = aws.ec2.SecurityGroup(
            f"{name}-firewall", vpc_id=vpc.id, description=f"aurigraph {stack}", tags=tags, opts=child,
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=rule.port, to_port=rule.port,
                                                      cidr_blocks=rule.ipv4, ipv6_cidr_blocks=rule.ipv6,
                                                      description=rule.name)
                     for rule in args.firewall],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                                                    description="all outbound")])
        key = aws.ec2.KeyPair(f"{name}-key", public_key=vm.ssh_public_key, tags=tags, opts=child)
        ami = vm.image or aws.ec2.get_ami(
            most_recent=True, owners=[DEBIAN_OWNER],
            filters=[aws.ec2.GetAmiFilterArgs(name="name", values=["debian-12-amd64-*"]),
                     aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"])]).id
        self.host_key = generated_host_key(f"{name}-host-key", self, f"aurigraph-{stack}")
        data = aws.ebs.Volume(f"{name}-data", availability_zone=subnet.availability_zone, size=vm.data_disk_gb,
                              type="gp3", encrypted=True, tags=tags, opts=disk_options(self, args))
        self.instance = aws.ec2.Instance(
            f"{name}-vm", ami=ami, instance_type=args.size, subnet_id=subnet.id,
            vpc_security_group_ids=[firewall.id], key_name=key.key_name,
            user_data=user_data(args, self.host_key, data.id.apply(lambda vid: NVME_BY_ID + vid.replace("-", ""))),
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required"),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(volume_size=30, volume_type="gp3", encrypted=True),
            tags=tags,
            opts=machine_options(self, args, "ami"))
        aws.ec2.VolumeAttachment(f"{name}-data", device_name=DATA_DEVICE_NAME, volume_id=data.id,
                                 instance_id=self.instance.id, stop_instance_before_detaching=True,
                                 opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", instance=self.instance.id, tags=tags, opts=child)
        self.address = address.public_ip
        self.ready = wait_for_docker(f"{name}-docker-ready", self.address, vm.ssh_user, self.host_key.public, self,
                                     self.instance)
        self.register_outputs({"address": self.address, "size": args.size})


def create(settings: Settings, plan: Plan) -> Host:
    return vm_host("aws", AwsHost("aws", vm_args(settings, plan)), settings.vm.ssh_user)
