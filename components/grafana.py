"""Grafana: the Prometheus and Jaeger datasources and the cluster's dashboards, provisioned from files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from model.services import service
from render.datastores import GRAFANA_START
from render.grafana import DASHBOARDS_PATH, render_dashboard_provider, render_dashboards, render_datasources

from . import containers as c
from .credentials import password

GRAFANA = service("grafana")
PROVISIONING = "/etc/grafana/provisioning"
START = "/usr/local/bin/aurigraph-grafana-start"


@dataclass
class GrafanaArgs:
    placement: c.Placement
    admin_password: str | None  # configured (secret), or None to generate one
    depends_on: Sequence[pulumi.Resource] = ()
    # Where this component's resources were before (their old parent), so an upgrade moves them.
    aliases: Sequence[pulumi.Alias] = ()
    password_aliases: Sequence[pulumi.Alias] = ()


class Grafana(pulumi.ComponentResource):
    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Grafana", name, None, opts)
        admin_password = password(f"{name}-admin-password", args.admin_password, self, args.password_aliases)
        self.container = c.service_container(
            name,
            GRAFANA,
            args.placement,
            self,
            aliases=args.aliases,
            env={
                "GF_SECURITY_ADMIN_USER": "admin",
                "GF_SECURITY_ADMIN_PASSWORD": admin_password,
                # Strings, always: the spec's YAML boolean bug was exactly this value.
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_AUTH_ANONYMOUS_ENABLED": "false",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
            },
            # Sets the configured admin password on every start, so a rotation reaches an existing database.
            entrypoints=[START],
            uploads=[
                c.upload(START, GRAFANA_START, executable=True),
                c.upload(
                    f"{PROVISIONING}/datasources/aurigraph.yaml",
                    render_datasources(service("prometheus").url(), service("jaeger").url("jaeger")),
                ),
                c.upload(f"{PROVISIONING}/dashboards/aurigraph.yaml", render_dashboard_provider()),
                *[c.upload(f"{DASHBOARDS_PATH}/{file}", text) for file, text in render_dashboards().items()],
            ],
            volumes=[
                c.service_volume(
                    f"{name}-data",
                    GRAFANA,
                    args.placement,
                    self,
                    aliases=c.renamed(args.aliases, f"monitoring-{name}-data"),
                )
            ],
            depends_on=args.depends_on,
        )
        self.register_outputs({"container": self.container.name})
