"""Database: PostgreSQL 16 with the `aurigraph` database, its application role and a metrics role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from . import containers as c
from .credentials import password
from .render.datastores import render_postgres_init
from .topology import POSTGRES_HOST

DATABASE = "aurigraph"
APP_USER = "aurigraph"
METRICS_USER = "aurigraph_metrics"
DATA_PATH = "/var/lib/postgresql/data"


@dataclass
class DatabaseArgs:
    placement: c.Placement
    image: str
    app_password: Optional[pulumi.Output[str]]


class Database(pulumi.ComponentResource):
    app_password: pulumi.Output[str]
    metrics_password: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Database", name, None, opts)
        superuser = password(f"{name}-superuser-password", None, self)
        self.app_password = password(f"{name}-app-password", args.app_password, self)
        self.metrics_password = password(f"{name}-metrics-password", None, self)
        # Secret in, secret out: the rendered SQL carries the passwords and stays encrypted in state.
        init_sql = pulumi.Output.all(self.app_password, self.metrics_password).apply(
            lambda pw: render_postgres_init(DATABASE, APP_USER, pw[0], METRICS_USER, pw[1]))

        volume = c.service_volume(f"{name}-data", POSTGRES_HOST, args.placement, self)
        self.container = c.service_container(
            POSTGRES_HOST, args.placement, args.image, self,
            health=f"pg_isready -q -h 127.0.0.1 -U postgres -d {DATABASE}",
            env={"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": superuser, "PGDATA": f"{DATA_PATH}/pgdata"},
            uploads=[c.upload("/docker-entrypoint-initdb.d/10-aurigraph.sql", init_sql)],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=DATA_PATH)],
        )
        self.register_outputs({"host": POSTGRES_HOST, "database": DATABASE, "user": APP_USER,
                               "volume": volume.name})
