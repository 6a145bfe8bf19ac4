"""Small builders shared by every component that runs a container (node groups and services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_docker as docker

from .topology import SERVICE_RESOURCES

LABEL_PREFIX = "io.aurigraph"

# Replacing a container's healthcheck in place is not something the docker provider can do
# (the container must be recreated), so a changed healthcheck must force a replacement.
REPLACE_ON = ["healthcheck"]


def label_args(labels: Mapping[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]


def env_list(env: Mapping[str, pulumi.Input[str]]) -> pulumi.Input[list[str]]:
    """`KEY=value` strings, sorted so that the same env never shows as a diff.

    Only the values that are Outputs (the secrets) are awaited, in one `apply`: an Output per
    entry made evaluation of a 1,000-node cluster markedly slower.
    """
    items = sorted(env.items())
    pending = {k: v for k, v in items if not isinstance(v, str)}
    if not pending:
        return [f"{k}={v}" for k, v in items]
    return pulumi.Output.all(**pending).apply(
        lambda resolved: [f"{k}={resolved[k] if k in pending else v}" for k, v in items])


def healthcheck(command: str, *, interval: str = "10s", timeout: str = "5s", retries: int = 3,
                start_period: str = "30s") -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", command],
        interval=interval,
        timeout=timeout,
        retries=retries,
        start_period=start_period,
    )


def data_volume(resource_name: str, docker_name: str, labels: Mapping[str, str], *, protect: bool,
                parent: pulumi.Resource) -> docker.Volume:
    """A named volume that outlives its container and, on protected stacks, `pulumi destroy`.

    retain_on_delete: removing a container from the config (or the whole stack) leaves the
    data on the host, to be reattached or removed by hand. protect additionally refuses
    to delete it at all until the operator lifts protection.
    """
    return docker.Volume(
        resource_name,
        name=docker_name,
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, protect=protect),
    )


def network_attachment(network_name: pulumi.Input[str], aliases: Sequence[str]) -> list[docker.ContainerNetworksAdvancedArgs]:
    return [docker.ContainerNetworksAdvancedArgs(name=network_name, aliases=list(aliases))]


def container_options(parent: pulumi.Resource, depends_on: Optional[Sequence[pulumi.Resource]] = None) -> pulumi.ResourceOptions:
    """Options every long-running container gets.

    delete_before_replace: names and published ports are fixed, so the old container must go
    before its replacement can take them.
    """
    return pulumi.ResourceOptions(
        parent=parent,
        delete_before_replace=True,
        replace_on_changes=REPLACE_ON,
        depends_on=list(depends_on or []),
    )


@dataclass(frozen=True)
class Placement:
    """Where a service container goes: which stack and network, and how its data is kept."""

    stack: str
    network_name: pulumi.Input[str]
    protect_data: bool


def service_labels(placement: Placement, service: str) -> dict[str, str]:
    return {f"{LABEL_PREFIX}.stack": placement.stack, f"{LABEL_PREFIX}.service": service}


def service_volume(resource_name: str, service: str, placement: Placement, parent: pulumi.Resource) -> docker.Volume:
    """A service's retained data volume, `<stack>-<service>-data`."""
    return data_volume(resource_name, f"{placement.stack}-{service}-data", service_labels(placement, service),
                       protect=placement.protect_data, parent=parent)


def pulled_image(resource_name: str, ref: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A public, pinned service image, pulled once and kept on the host when no longer used."""
    return docker.RemoteImage(resource_name, name=ref, keep_locally=True,
                              opts=pulumi.ResourceOptions(parent=parent)).image_id


def published(internal: int, host_ip: str, host_port: int) -> docker.ContainerPortArgs:
    return docker.ContainerPortArgs(internal=internal, external=host_port, ip=host_ip, protocol="tcp")


def upload(path: str, content: pulumi.Input[str]) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(file=path, content=content)


def service_container(name: str, placement: Placement, image_ref: str, parent: pulumi.Resource, *,
                      health: str, env: Optional[Mapping[str, pulumi.Input[str]]] = None,
                      limits: Optional[tuple[float, int]] = None,
                      depends_on: Optional[Sequence[pulumi.Resource]] = None, **docker_args) -> docker.Container:
    """A long-running infrastructure container, named and reachable as `name` on the cluster network.

    Every one is limited (by default as SERVICE_RESOURCES says), health-checked and waited
    for, like the node containers.
    """
    cpus, memory_mb = limits if limits is not None else SERVICE_RESOURCES[name]
    return docker.Container(
        name,
        name=f"{placement.stack}-{name}",
        hostname=name,
        image=pulled_image(f"{name}-image", image_ref, parent),
        envs=env_list(env) if env else None,
        labels=label_args(service_labels(placement, name)),
        networks_advanced=network_attachment(placement.network_name, [name]),
        cpus=f"{cpus:g}",
        memory=memory_mb,
        healthcheck=healthcheck(health),
        wait=True,
        wait_timeout=120,
        restart="unless-stopped",
        must_run=True,
        opts=container_options(parent, depends_on=depends_on),
        **docker_args,
    )
