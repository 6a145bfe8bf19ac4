"""Exporters: the metrics the alert rules and dashboards need from PostgreSQL, Redis, the containers
and the host. One component per exporter, each a single container."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker

from model.services import DATABASE, service

from . import containers as c


@dataclass
class ExporterArgs:
    placement: c.Placement
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    docker_args: Mapping[str, Any] = field(default_factory=dict)  # what this exporter needs of the host
    aliases: Sequence[pulumi.Alias] = ()


class Exporter(pulumi.ComponentResource):
    """`name` is the exporter's service in the registry (postgres-exporter, ...)."""

    def __init__(self, name: str, args: ExporterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Exporter", name, None, opts)
        self.container = c.service_container(
            name,
            service(name),
            args.placement,
            self,
            env=dict(args.env) or None,
            aliases=args.aliases,
            **args.docker_args,
        )
        self.register_outputs({"container": self.container.name})


def postgres_exporter(metrics_user: str, metrics_password: pulumi.Input[str]) -> dict[str, Any]:
    postgres = service("postgres")
    return {
        "env": {
            "DATA_SOURCE_URI": f"{postgres.address}/{DATABASE}?sslmode=disable",
            "DATA_SOURCE_USER": metrics_user,
            "DATA_SOURCE_PASS": metrics_password,
        }
    }


def redis_exporter(password: pulumi.Input[str]) -> dict[str, Any]:
    return {"env": {"REDIS_ADDR": f"redis://{service('redis').address}", "REDIS_PASSWORD": password}}


def cadvisor() -> dict[str, Any]:
    """cAdvisor reads the host's cgroups and the Docker state read-only, and keeps only our labels,
    which the memory alerts and the dashboards select on. Not privileged: the mounts and the
    kmsg device its documentation lists for a non-privileged run (the read-only /var/run lets
    it reach the Docker socket)."""
    labels = ",".join(f"{c.LABEL_PREFIX}.{k}" for k in ("group", "container", "stack", "service"))
    return {
        "docker_args": dict(
            command=[
                "--docker_only=true",
                "--housekeeping_interval=30s",
                "--store_container_labels=false",
                f"--whitelisted_container_labels={labels}",
            ],
            devices=[docker.ContainerDeviceArgs(host_path="/dev/kmsg")],
            volumes=[
                docker.ContainerVolumeArgs(host_path=h, container_path=h if h != "/" else "/rootfs", read_only=True)
                for h in ("/", "/var/run", "/sys", "/var/lib/docker", "/dev/disk")
            ],
        )
    }


TEXTFILE_DIR = "/textfile"


def node_exporter(textfile_volume: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """The host's metrics; with `textfile_volume` (the backup status), also the `.prom` files in it."""
    volumes = [docker.ContainerVolumeArgs(host_path="/", container_path="/host", read_only=True)]
    command = ["--path.rootfs=/host"]
    if textfile_volume is not None:
        volumes.append(
            docker.ContainerVolumeArgs(volume_name=textfile_volume, container_path=TEXTFILE_DIR, read_only=True)
        )
        command.append(f"--collector.textfile.directory={TEXTFILE_DIR}")
    return {"docker_args": dict(command=command, pid_mode="host", volumes=volumes)}
