"""Docker hosts: every target gives the same `Host`, a docker provider plus where it is reached.

The cluster components never ask which target they are on. `HOSTS` maps each target of
model.config.DOCKER_TARGETS to the module that builds it; each module has
`create(settings, plan) -> Host`. Cloud modules are imported only when their target is used
(their SDKs are large); each defines a `VmHost` subclass, which shares the VM's tail.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_random as random

from model.clouds import CloudSpec
from model.config import DOCKER_TARGETS, BackupConfig, VmConfig
from model.planning import Plan
from model.services import PUBLISHED
from model.settings import VM_SSH_PORT, Settings
from render.cloud_init import WAIT_FOR_DOCKER, render_cloud_init
from render.host_key import host_key_pair, known_hosts_options

from ..backup import Bucket

HOSTS: dict[str, str] = {target: f"{__name__}.{target}" for target in DOCKER_TARGETS}

KEEPALIVE = ("-o", "ServerAliveInterval=30")


@dataclass(frozen=True)
class Host:
    provider: docker.Provider
    # Where the published ports (API frontend, admin UIs) are reached from the operator's side.
    address: pulumi.Input[str]
    # DOCKER_HOST for the docker CLI (the operations tools stop and start containers); None: the local one.
    docker_host: pulumi.Input[str] | None = None
    # The bucket backups are copied to (target aws with backup.bucket), else None.
    backup_bucket: Bucket | None = None


@dataclass(frozen=True)
class FirewallRule:
    name: str
    port: int
    cidrs: tuple[str, ...]

    @property
    def ipv4(self) -> list[str]:
        return [c for c in self.cidrs if ipaddress.ip_network(c).version == 4]

    @property
    def ipv6(self) -> list[str]:
        return [c for c in self.cidrs if ipaddress.ip_network(c).version == 6]


@dataclass(frozen=True)
class VmHostArgs:
    """What every cloud's VM component takes; each cloud reads the parts of `vm` it needs."""

    stack: str
    vm: VmConfig
    size: str
    protect_data: bool
    firewall: tuple[FirewallRule, ...]
    # The data disk's snapshot schedule, and on aws the backup bucket (backup.bucket).
    backup: BackupConfig = BackupConfig()


@dataclass(frozen=True)
class HostKey:
    """A VM's SSH host key: the private file (secret, for cloud-init) and the public line (pinned)."""

    private: pulumi.Output[str]
    public: pulumi.Output[str]


def generated_host_key(name: str, parent: pulumi.Resource, comment: str) -> HostKey:
    """An Ed25519 host key from 32 random bytes kept (secret) in the state: stable across runs."""
    seed = random.RandomBytes(name, length=32, opts=pulumi.ResourceOptions(parent=parent))
    pair = seed.base64.apply(lambda b64: host_key_pair(b64, comment))
    return HostKey(
        private=pulumi.Output.secret(pair.apply(lambda p: p[0])),
        public=pulumi.Output.unsecret(pair.apply(lambda p: p[1])),
    )


def user_data(args: VmHostArgs, host_key: HostKey, data_device: pulumi.Input[str]) -> pulumi.Output[str]:
    """The VM's cloud-init, secret (it carries the host's private key)."""
    return pulumi.Output.all(host_key.private, host_key.public, data_device).apply(
        lambda a: render_cloud_init(args.vm.ssh_user, args.vm.ssh_public_key, a[2], (a[0], a[1]))
    )


def firewall_rules(vm: VmConfig, admin_bind_address: str, ports: dict[str, int]) -> tuple[FirewallRule, ...]:
    """What a VM lets in: SSH from the operators, the API from its CIDRs, and the admin UIs from
    the operators only when they are bound beyond loopback (else they are reached by SSH tunnel)."""
    admin_open = not ipaddress.ip_address(admin_bind_address).is_loopback
    rules = [FirewallRule("ssh", VM_SSH_PORT, vm.admin_cidrs)]
    rules += [
        FirewallRule(_kebab(p.key), ports[p.key], vm.admin_cidrs if p.admin else vm.api_cidrs)
        for p in sorted(PUBLISHED, key=lambda p: p.admin)
        if admin_open or not p.admin
    ]
    return tuple(rules)


def _kebab(key: str) -> str:
    return "".join(f"-{ch.lower()}" if ch.isupper() else ch for ch in key)


def vm_args(settings: Settings, plan: Plan) -> VmHostArgs:
    # parse_settings and make_plan guarantee both for a cloud target.
    assert settings.vm is not None and plan.vm_size is not None
    return VmHostArgs(
        stack=settings.stack,
        vm=settings.vm,
        size=plan.vm_size.size,
        protect_data=settings.protect_data,
        firewall=firewall_rules(settings.vm, settings.admin_bind_address, dict(settings.ports)),
        backup=settings.backup,
    )


def ssh_url(user: str, address: pulumi.Input[str], port: int) -> pulumi.Output[str]:
    return pulumi.Output.concat("ssh://", user, "@", address, ":", str(port))


def remote_docker(
    name: str,
    address: pulumi.Input[str],
    user: str,
    port: int,
    ssh_opts: pulumi.Input[Sequence[str]],
    parent: pulumi.Resource | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> docker.Provider:
    """The docker provider over SSH (`ssh://user@host:port`, the system ssh client and agent)."""
    return docker.Provider(
        name,
        host=ssh_url(user, address, port),
        ssh_opts=ssh_opts,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def wait_for_docker(
    name: str,
    address: pulumi.Input[str],
    user: str,
    host_key: pulumi.Input[str],
    parent: pulumi.Resource,
    machine: pulumi.CustomResource,
) -> command.remote.Command:
    """Blocks until cloud-init has finished on the VM and `docker info` answers on the data disk.

    Connects with the operator's SSH agent (SSH_AUTH_SOCK), accepting only the VM's pinned host
    key. Runs again when the VM is replaced.
    """
    return command.remote.Command(
        name,
        connection=command.remote.ConnectionArgs(host=address, user=user, host_key=host_key, dial_error_limit=60),
        create=WAIT_FOR_DOCKER,
        triggers=[machine.id],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[machine]),
    )


# Snapshots are taken at this time of day (UTC), then every backup.snapshotEveryHours.
SNAPSHOT_START = "03:00"


class VmHost(pulumi.ComponentResource):
    """A cloud VM that runs the cluster's Docker daemon. Each cloud's subclass names its `cloud` and
    builds its network, data disk and machine in `build`; the rest is shared: the generated SSH host
    key, the wait for Docker, the outputs and the `Host`."""

    cloud: ClassVar[CloudSpec]
    host_key: HostKey
    address: pulumi.Output[str]
    ready: command.remote.Command
    backup_bucket: Bucket | None

    def __init__(self, args: VmHostArgs, opts: pulumi.ResourceOptions | None = None):
        name = self.cloud.name
        super().__init__(f"aurigraph:index:{name.capitalize()}Host", name, None, opts)
        self.args = args
        self.host_key = generated_host_key(f"{name}-host-key", self, f"aurigraph-{args.stack}")
        self.backup_bucket = None
        machine, self.address = self.build(name, args)
        self.ready = wait_for_docker(
            f"{name}-docker-ready", self.address, args.vm.ssh_user, self.host_key.public, self, machine
        )
        self.register_outputs({"address": self.address, "size": args.size})

    def build(self, name: str, args: VmHostArgs) -> tuple[pulumi.CustomResource, pulumi.Output[str]]:
        """The cloud's resources; returns the machine and its public address."""
        raise NotImplementedError

    def machine_options(self) -> pulumi.ResourceOptions:
        """The VM itself holds no data (the data disk is its own, protected resource), so it is not
        protected: replacing it is routine. It is replaced by deleting it first, so its data disk can
        move to the new one; and a looked-up image (the cloud's `image_input`) is kept, so a newer
        image from the distribution never replaces it. Setting vm.image is how it changes."""
        return pulumi.ResourceOptions(
            parent=self,
            delete_before_replace=True,
            ignore_changes=[self.cloud.image_input] if self.args.vm.image is None else [],
        )

    def disk_options(self) -> pulumi.ResourceOptions:
        """The data disk, a resource of its own: it outlives the VM, and `pulumi destroy` too."""
        return pulumi.ResourceOptions(parent=self, protect=self.args.protect_data, retain_on_delete=True)

    def host(self) -> Host:
        """The docker provider over SSH, pinned to the VM's host key, once the VM runs Docker."""
        user = self.args.vm.ssh_user
        ssh_opts = self.host_key.public.apply(lambda key: known_hosts_options(key) + list(KEEPALIVE))
        provider = remote_docker(
            f"docker-{self.cloud.name}", self.address, user, VM_SSH_PORT, ssh_opts, depends_on=[self.ready]
        )
        return Host(
            provider=provider,
            address=self.address,
            docker_host=ssh_url(user, self.address, VM_SSH_PORT),
            backup_bucket=self.backup_bucket,
        )

    @classmethod
    def create(cls, settings: Settings, plan: Plan) -> Host:
        return cls(vm_args(settings, plan)).host()


def create_host(settings: Settings, plan: Plan) -> Host:
    return importlib.import_module(HOSTS[settings.target]).create(settings, plan)
