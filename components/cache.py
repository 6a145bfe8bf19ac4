"""Cache: Redis 7 with a password, a memory limit and policy, and append-only persistence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from . import containers as c
from .credentials import password
from .render.datastores import render_redis_conf
from .settings import CacheSettings
from .topology import REDIS_CPUS, REDIS_HOST, REDIS_OVERHEAD_MB

CONF_PATH = "/usr/local/etc/redis/redis.conf"


@dataclass
class CacheArgs:
    placement: c.Placement
    image: str
    settings: CacheSettings
    password: Optional[pulumi.Output[str]]


class Cache(pulumi.ComponentResource):
    password: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Cache", name, None, opts)
        self.password = password(f"{name}-password", args.password, self)
        conf = self.password.apply(
            lambda pw: render_redis_conf(pw, args.settings.max_memory_mb, args.settings.max_memory_policy))

        volume = c.service_volume(f"{name}-data", REDIS_HOST, args.placement, self)
        self.container = c.service_container(
            REDIS_HOST, args.placement, args.image, self,
            limits=(REDIS_CPUS, args.settings.max_memory_mb + REDIS_OVERHEAD_MB),
            # REDISCLI_AUTH lets the healthcheck authenticate without the password on a command line.
            health="redis-cli ping | grep -q PONG",
            env={"REDISCLI_AUTH": self.password},
            command=["redis-server", CONF_PATH],
            uploads=[c.upload(CONF_PATH, conf)],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/data")],
        )
        self.register_outputs({"host": REDIS_HOST, "volume": volume.name})
