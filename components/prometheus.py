"""Prometheus: scrapes every logical node and service, evaluates the alert rules, keeps its TSDB on a volume.

It gets only the files it reads, so a new scrape interval replaces Prometheus and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from model.config import MonitoringConfig
from model.services import service
from model.topology import Topology
from render.prometheus import render_alert_rules, render_prometheus_config

from . import containers as c

PROMETHEUS = service("prometheus")
CONFIG_PATH = "/etc/prometheus/prometheus.yml"
RULES_FILE = "/etc/prometheus/rules/aurigraph.yml"


@dataclass
class PrometheusArgs:
    placement: c.Placement
    topology: Topology
    density: str
    monitoring: MonitoringConfig
    backup_max_age: int | None = None  # seconds; None: no backups, no backup alerts
    backup_bucket: bool = False
    # Where this component's resources were before (their old parent), so an upgrade moves them.
    aliases: Sequence[pulumi.Alias] = ()


class Prometheus(pulumi.ComponentResource):
    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Prometheus", name, None, opts)
        m = args.monitoring
        self.container = c.service_container(
            name,
            PROMETHEUS,
            args.placement,
            self,
            aliases=args.aliases,
            command=[
                f"--config.file={CONFIG_PATH}",
                f"--storage.tsdb.path={PROMETHEUS.data_path}",
                f"--storage.tsdb.retention.time={m.retention}",
                "--web.console.libraries=/usr/share/prometheus/console_libraries",
                "--web.console.templates=/usr/share/prometheus/consoles",
            ],
            uploads=[
                c.upload(
                    CONFIG_PATH, render_prometheus_config(args.topology, m.scrape_interval, m.evaluation_interval)
                ),
                c.upload(
                    RULES_FILE,
                    render_alert_rules(
                        args.density, args.topology.fault_budget, args.backup_max_age, args.backup_bucket
                    ),
                ),
            ],
            volumes=[
                c.service_volume(
                    f"{name}-data",
                    PROMETHEUS,
                    args.placement,
                    self,
                    aliases=c.renamed(args.aliases, f"monitoring-{name}-data"),
                )
            ],
        )
        self.register_outputs({"container": self.container.name})
