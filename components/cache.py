"""Cache: Redis 7 with a password, a memory limit and policy, and append-only persistence."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.config import CacheConfig
from model.services import service
from render.datastores import render_redis_conf

from . import containers as c
from .credentials import password

CONF_PATH = "/usr/local/etc/redis/redis.conf"
REDIS = service("redis")


@dataclass
class CacheArgs:
    placement: c.Placement
    cache: CacheConfig
    password: str | None  # configured (secret), or None to generate one


class Cache(pulumi.ComponentResource):
    password: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Cache", name, None, opts)
        self.password = password(f"{name}-password", args.password, self)
        conf = self.password.apply(
            lambda pw: render_redis_conf(pw, args.cache.max_memory_mb, args.cache.max_memory_policy)
        )

        self.container = c.service_container(
            name,
            REDIS,
            args.placement,
            self,
            memory_mb=REDIS.memory_limit(args.cache.max_memory_mb),
            # REDISCLI_AUTH lets the healthcheck authenticate without the password on a command line.
            env={"REDISCLI_AUTH": self.password},
            command=["redis-server", CONF_PATH],
            uploads=[c.upload(CONF_PATH, conf)],
            volumes=[volume := c.service_volume(f"{name}-data", REDIS, args.placement, self)],
        )
        self.register_outputs({"host": REDIS.name, "volume": volume.volume_name})
