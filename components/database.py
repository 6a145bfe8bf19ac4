"""Database: PostgreSQL 16 with the `aurigraph` database, its application role and a metrics role."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.services import DATABASE, service
from render.backup import render_backup_role
from render.datastores import POSTGRES_START, render_postgres_init, render_postgres_roles

from . import containers as c
from .credentials import password

APP_USER = "aurigraph"
METRICS_USER = "aurigraph_metrics"
POSTGRES = service("postgres")
START = "/usr/local/bin/aurigraph-postgres-start"
ROLES_SQL = "/etc/aurigraph/roles.sql"


@dataclass
class DatabaseArgs:
    placement: c.Placement
    app_password: str | None  # configured (secret), or None to generate one
    backup: bool = False  # a role for the backup container (render/backup.py)


class Database(pulumi.ComponentResource):
    app_password: pulumi.Output[str]
    metrics_password: pulumi.Output[str]
    backup_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Database", name, None, opts)
        superuser = password(f"{name}-superuser-password", None, self)
        self.app_password = password(f"{name}-app-password", args.app_password, self)
        self.metrics_password = password(f"{name}-metrics-password", None, self)
        # Secret in, secret out: the rendered SQL carries the passwords and stays encrypted in state.
        passwords = pulumi.Output.all(self.app_password, self.metrics_password)
        init_sql = passwords.apply(lambda pw: render_postgres_init(DATABASE, APP_USER, pw[0], METRICS_USER, pw[1]))
        # Applied on every start, so a rotated password reaches a database initialised with the old one.
        roles_sql = passwords.apply(lambda pw: render_postgres_roles(APP_USER, pw[0], METRICS_USER, pw[1]))
        self.backup_password = password(f"{name}-backup-password", None, self) if args.backup else None
        if self.backup_password is not None:
            roles_sql = pulumi.Output.all(roles_sql, self.backup_password).apply(
                lambda a: a[0] + render_backup_role(DATABASE, a[1])
            )

        self.container = c.service_container(
            name,
            POSTGRES,
            args.placement,
            self,
            env={
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD": superuser,
                "PGDATA": f"{POSTGRES.data_path}/pgdata",
                "AURIGRAPH_ROLES_SQL": ROLES_SQL,
            },
            entrypoints=[START],
            uploads=[
                c.upload("/docker-entrypoint-initdb.d/10-aurigraph.sql", init_sql),
                c.upload(ROLES_SQL, roles_sql),
                c.upload(START, POSTGRES_START, executable=True),
            ],
            volumes=[volume := c.service_volume(f"{name}-data", POSTGRES, args.placement, self)],
        )
        self.register_outputs(
            {"host": POSTGRES.name, "database": DATABASE, "user": APP_USER, "volume": volume.volume_name}
        )
