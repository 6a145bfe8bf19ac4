"""Docker hosts: each target turns settings into the same shape, a docker provider plus host facts.

The cluster components never ask which target they are on; they get a `Host`. One module per
target: local (the local daemon), ssh (an existing server), aws, azure and gcp (a VM this
program creates, reached over SSH once cloud-init has installed Docker).
"""

from __future__ import annotations

import importlib
import ipaddress
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from ..render.cloud_init import WAIT_FOR_DOCKER
from ..settings import Settings

# Host-key policy for connections to a VM this program just created: accept its first key,
# refuse a changed one later.
CLOUD_SSH_OPTS = ("-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30")


@dataclass(frozen=True)
class Host:
    provider: docker.Provider
    # Where the published ports (API frontend, admin UIs) are reached from the operator's side.
    address: pulumi.Input[str]
    # Capacity of the host when known (None: not known, e.g. the local daemon).
    cpus: Optional[float] = None
    memory_mb: Optional[int] = None
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


def firewall_rules(settings: Settings) -> list[FirewallRule]:
    """What a VM lets in: SSH from the operators, the API from its CIDRs, and the admin UIs from
    the operators only when they are bound beyond loopback (else they are reached by SSH tunnel)."""
    vm, ports = settings.vm, settings.ports
    rules = [FirewallRule("ssh", 22, vm.admin_cidrs), FirewallRule("api", ports["api"], vm.api_cidrs)]
    if not ipaddress.ip_address(settings.admin_bind_address).is_loopback:
        rules += [FirewallRule(name, ports[key], vm.admin_cidrs) for name, key in
                  (("grafana", "grafana"), ("prometheus", "prometheus"), ("jaeger", "jaeger"),
                   ("haproxy-stats", "haproxyStats"))]
    return rules


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


def vm_host(machine: pulumi.ComponentResource, settings: Settings) -> Host:
    """The Host of a cloud VM: the docker provider over SSH waits until the VM runs Docker.

    `machine` is the cloud's component, with `.address` (its public IP) and `.ready`.
    """
    provider = remote_docker(f"docker-{settings.target}", machine.address, settings.vm.ssh_user, 22, CLOUD_SSH_OPTS,
                             depends_on=[machine.ready])
    return Host(provider=provider, address=machine.address, cpus=settings.vm.cpus, memory_mb=settings.vm.memory_mb,
                docker_host=ssh_url(settings.vm.ssh_user, machine.address, 22))


def create_host(settings: Settings) -> Host:
    module = importlib.import_module(f"{__name__}.{settings.target}")
    return module.create(settings)
