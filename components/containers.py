"""Small builders shared by every component that runs a container (node groups and services)."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_docker as docker

LABEL_PREFIX = "io.aurigraph"

# Replacing a container's healthcheck in place is not something the docker provider can do
# (the container must be recreated), so a changed healthcheck must force a replacement.
REPLACE_ON = ["healthcheck"]


def label_args(labels: Mapping[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]


def env_list(env: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    """`KEY=value` strings, sorted so that the same env never shows as a diff."""
    return pulumi.Output.all(*[pulumi.Output.concat(k, "=", v) for k, v in sorted(env.items())])


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
