"""Small builders shared by every component that runs a container (node groups and services)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from model.readback import capability, docker_cpus, go_duration
from model.services import ServiceSpec

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
        lambda resolved: [f"{k}={resolved[k] if k in pending else v}" for k, v in items]
    )


# Container logs rotate on every target, not only where the VM's daemon.json says so.
LOG_OPTS = {"max-size": "50m", "max-file": "5"}


def hardening(capabilities: Sequence[str] = ()) -> dict:
    """What every container gets: all capabilities dropped but the listed ones, no privilege
    gain through setuid binaries, and rotated json-file logs."""
    return dict(
        capabilities=docker.ContainerCapabilitiesArgs(
            drops=[capability("ALL")], adds=sorted(map(capability, capabilities)) or None
        ),
        security_opts=["no-new-privileges:true"],
        log_driver="json-file",
        log_opts=dict(LOG_OPTS),
    )


def healthcheck(
    command: str, *, interval: int = 10, timeout: int = 5, retries: int = 3, start_period: int = 30
) -> docker.ContainerHealthcheckArgs:
    """Durations in seconds, sent as Go prints them (the provider reads them back so)."""
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", command],
        interval=go_duration(interval),
        timeout=go_duration(timeout),
        retries=retries,
        start_period=go_duration(start_period),
    )


def limits(cpus: float, memory_mb: int) -> dict:
    """CPU and memory limits in the forms Docker reads back, and no swap: memory_swap equal to
    memory (unset, Docker gives a container as much swap again, and the provider then reads
    that back as a change on every run)."""
    return dict(cpus=docker_cpus(cpus), memory=memory_mb, memory_swap=memory_mb)


def data_volume(
    resource_name: str,
    docker_name: str,
    labels: Mapping[str, str],
    *,
    protect: bool,
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> docker.Volume:
    """A named volume that outlives its container and, on protected stacks, `pulumi destroy`.

    retain_on_delete: removing a container from the config (or the whole stack) leaves the
    data on the host, to be reattached or removed by hand. protect additionally refuses
    to delete it at all until the operator lifts protection.

    A volume's name and labels force its replacement when they change (pulumi-docker's schema).
    The name never changes; `labels` carry only what never changes either (no node list, which a
    density change moves), and labels are ignored after creation, so a volume made by an older
    version of this program, with other labels, is never replaced for them.
    """
    return docker.Volume(
        resource_name,
        name=docker_name,
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
        opts=pulumi.ResourceOptions(
            parent=parent, retain_on_delete=True, protect=protect, aliases=list(aliases), ignore_changes=["labels"]
        ),
    )


def network_attachment(
    network_name: pulumi.Input[str], aliases: Sequence[str]
) -> list[docker.ContainerNetworksAdvancedArgs]:
    return [docker.ContainerNetworksAdvancedArgs(name=network_name, aliases=list(aliases))]


def container_options(
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> pulumi.ResourceOptions:
    """Options every long-running container gets.

    delete_before_replace: names and published ports are fixed, so the old container must go
    before its replacement can take them.
    """
    return pulumi.ResourceOptions(
        parent=parent,
        delete_before_replace=True,
        replace_on_changes=REPLACE_ON,
        depends_on=list(depends_on or []),
        aliases=list(aliases),
    )


@dataclass(frozen=True)
class Placement:
    """Where a service container goes: which stack and network, and how its data is kept."""

    stack: str
    network_name: pulumi.Input[str]
    protect_data: bool
    # Where published ports go: admin UIs on one address, the API on another; host port by key.
    admin_bind_address: str = "127.0.0.1"
    api_bind_address: str = "0.0.0.0"
    ports: Mapping[str, int] = field(default_factory=dict)
    # Image reference by the registry's image key (ServiceSpec.image_key): serviceImages merged.
    images: Mapping[str, str] = field(default_factory=dict)


def service_labels(placement: Placement, service: str) -> dict[str, str]:
    return {f"{LABEL_PREFIX}.stack": placement.stack, f"{LABEL_PREFIX}.service": service}


def renamed(aliases: Sequence[pulumi.Alias], old_name: str) -> list[pulumi.Alias]:
    """The same aliases (old parents), for a child whose name changed too."""
    return [pulumi.Alias(name=old_name, parent=a.parent) for a in aliases]


def service_volume(
    resource_name: str,
    service: ServiceSpec,
    placement: Placement,
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> docker.ContainerVolumeArgs:
    """A service's retained data volume, `<stack>-<service>-data`, mounted at its data path."""
    volume = data_volume(
        resource_name,
        f"{placement.stack}-{service.name}-data",
        service_labels(placement, service.name),
        protect=placement.protect_data,
        parent=parent,
        aliases=aliases,
    )
    return docker.ContainerVolumeArgs(volume_name=volume.name, container_path=service.data_path)


def pulled_image(
    resource_name: str, ref: str, parent: pulumi.Resource, aliases: Sequence[pulumi.Alias] = ()
) -> pulumi.Output[str]:
    """A public, pinned service image, pulled once and kept on the host when no longer used."""
    return docker.RemoteImage(
        resource_name, name=ref, keep_locally=True, opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases))
    ).image_id


def published(internal: int, host_ip: str, host_port: int) -> docker.ContainerPortArgs:
    return docker.ContainerPortArgs(internal=internal, external=host_port, ip=host_ip, protocol="tcp")


def upload(path: str, content: pulumi.Input[str], executable: bool = False) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(file=path, content=content, executable=executable or None)


def service_container(
    name: str,
    service: ServiceSpec,
    placement: Placement,
    parent: pulumi.Resource,
    *,
    env: Mapping[str, pulumi.Input[str]] | None = None,
    memory_mb: int | None = None,
    depends_on: Sequence[pulumi.Resource] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
    host_network: bool = False,
    **docker_args,
) -> docker.Container:
    """A long-running infrastructure container: resource `name` (its image `<name>-image`), Docker
    name `<stack>-<service>`, reachable as `<service>` on the cluster network.

    Every one is limited as its ServiceSpec says, health-checked and waited for, like the nodes.
    `host_network`: on the host's network instead of the cluster's (a service that needs the
    cloud's metadata service, which containers on the cluster network cannot reach).
    """
    return docker.Container(
        name,
        name=f"{placement.stack}-{service.name}",
        # On the host's network (host_network) it has the host's name and no cluster alias.
        hostname=None if host_network else service.name,
        image=pulled_image(f"{name}-image", placement.images[service.image_key], parent, aliases),
        envs=env_list(env) if env else None,
        labels=label_args(service_labels(placement, service.name)),
        network_mode="host" if host_network else None,
        networks_advanced=None if host_network else network_attachment(placement.network_name, [service.name]),
        **limits(service.cpus, memory_mb or service.memory_mb),
        healthcheck=healthcheck(service.health),
        # Docker reports published ports by container port; the provider reads them back in that order.
        ports=[
            published(
                p.port, placement.admin_bind_address if p.admin else placement.api_bind_address, placement.ports[p.key]
            )
            for p in sorted(service.published, key=lambda p: p.port)
        ]
        or None,
        wait=True,
        wait_timeout=120,
        restart="unless-stopped",
        must_run=True,
        opts=container_options(parent, depends_on=depends_on, aliases=aliases),
        **hardening(service.capabilities),
        **docker_args,
    )
