"""Docker hosts: every target gives the same `Host`, a docker provider plus where it is reached.

The cluster components never ask which target they are on. `HOSTS` maps each target to the
module that builds it; each module has `create(settings, plan) -> Host`. Cloud modules are
imported only when their target is used (their SDKs are large).
"""

from __future__ import annotations

import importlib
import ipaddress
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from model.config import VmConfig
from model.planning import Plan
from model.services import PUBLISHED
from model.settings import Settings
from render.cloud_init import WAIT_FOR_DOCKER

HOSTS: dict[str, str] = {"local": "local", "ssh": "ssh", "aws": "aws", "azure": "azure", "gcp": "gcp"}

VM_SSH_PORT = 22
# Host-key policy for connections to a VM this program just created: accept its first key,
# refuse a changed one later.
CLOUD_SSH_OPTS = ("-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30")


@dataclass(frozen=True)
class Host:
    provider: docker.Provider
    # Where the published ports (API frontend, admin UIs) are reached from the operator's side.
    address: pulumi.Input[str]
    # DOCKER_HOST for the docker CLI (the operations tools stop and start containers); None: the local one.
    docker_host: Optional[pulumi.Input[str]] = None


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


def firewall_rules(vm: VmConfig, admin_bind_address: str, ports: dict[str, int]) -> tuple[FirewallRule, ...]:
    """What a VM lets in: SSH from the operators, the API from its CIDRs, and the admin UIs from
    the operators only when they are bound beyond loopback (else they are reached by SSH tunnel)."""
    admin_open = not ipaddress.ip_address(admin_bind_address).is_loopback
    rules = [FirewallRule("ssh", VM_SSH_PORT, vm.admin_cidrs)]
    rules += [FirewallRule(_kebab(p.key), ports[p.key], vm.admin_cidrs if p.admin else vm.api_cidrs)
              for p in sorted(PUBLISHED, key=lambda p: p.admin) if admin_open or not p.admin]
    return tuple(rules)


def _kebab(key: str) -> str:
    return "".join(f"-{ch.lower()}" if ch.isupper() else ch for ch in key)


def vm_args(settings: Settings, plan: Plan) -> VmHostArgs:
    return VmHostArgs(stack=settings.stack, vm=settings.vm, size=plan.vm_size.size, protect_data=settings.protect_data,
                      firewall=firewall_rules(settings.vm, settings.admin_bind_address, dict(settings.ports)))


def ssh_url(user: str, address: pulumi.Input[str], port: int) -> pulumi.Output[str]:
    return pulumi.Output.concat("ssh://", user, "@", address, ":", str(port))


def remote_docker(name: str, address: pulumi.Input[str], user: str, port: int, ssh_opts: Sequence[str],
                  parent: Optional[pulumi.Resource] = None,
                  depends_on: Sequence[pulumi.Resource] = ()) -> docker.Provider:
    """The docker provider over SSH (`ssh://user@host:port`, the system ssh client and agent)."""
    return docker.Provider(
        name,
        host=ssh_url(user, address, port),
        ssh_opts=list(ssh_opts),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def wait_for_docker(name: str, address: pulumi.Input[str], user: str, parent: pulumi.Resource,
                    machine: pulumi.Resource) -> command.remote.Command:
    """Blocks until cloud-init has finished on the VM and `docker info` answers.

    Connects with the operator's SSH agent (SSH_AUTH_SOCK). Runs again when the VM is replaced.
    """
    return command.remote.Command(
        name,
        connection=command.remote.ConnectionArgs(host=address, user=user, dial_error_limit=60),
        create=WAIT_FOR_DOCKER,
        triggers=[machine.id],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[machine]),
    )


def vm_host(target: str, machine: pulumi.ComponentResource, user: str) -> Host:
    """The Host of a cloud VM: the docker provider over SSH waits until the VM runs Docker.

    `machine` is the cloud's component, with `.address` (its public IP) and `.ready`.
    """
    provider = remote_docker(f"docker-{target}", machine.address, user, VM_SSH_PORT, CLOUD_SSH_OPTS,
                             depends_on=[machine.ready])
    return Host(provider=provider, address=machine.address, docker_host=ssh_url(user, machine.address, VM_SSH_PORT))


def create_host(settings: Settings, plan: Plan) -> Host:
    module = importlib.import_module(f"{__name__}.{HOSTS[settings.target]}")
    return module.create(settings, plan)
