"""Monitoring: Prometheus, the exporters its rules and dashboards need, and Grafana.

Each container gets only the files it reads, so a change to one file replaces only its
reader: a new scrape interval replaces Prometheus, a dashboard change replaces Grafana, and
neither touches a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_docker as docker

from . import containers as c
from .database import DATABASE, METRICS_USER
from .render.grafana import DASHBOARDS_PATH, render_dashboard_provider, render_dashboards, render_datasources
from .render.prometheus import render_alert_rules, render_prometheus_config
from .settings import Monitoring as MonitoringSettings
from .topology import JAEGER_HOST, POSTGRES_HOST, POSTGRES_PORT, REDIS_HOST, REDIS_PORT, Topology

PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
RULES_FILE = "/etc/prometheus/rules/aurigraph.yml"


@dataclass
class MonitoringArgs:
    placement: c.Placement
    images: Mapping[str, str]
    topology: Topology
    density: str
    settings: MonitoringSettings
    admin_bind_address: str
    prometheus_host_port: int
    grafana_host_port: int
    metrics_db_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]


def _wget(port: int, path: str) -> str:
    return f"wget -q -O /dev/null http://127.0.0.1:{port}{path}"


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Monitoring", name, None, opts)
        p, images = args.placement, args.images

        self.postgres_exporter = c.service_container(
            "postgres-exporter", p, images["postgresExporter"], self,
            health=_wget(9187, "/metrics"),
            env={"DATA_SOURCE_URI": f"{POSTGRES_HOST}:{POSTGRES_PORT}/{DATABASE}?sslmode=disable",
                 "DATA_SOURCE_USER": METRICS_USER, "DATA_SOURCE_PASS": args.metrics_db_password})
        self.redis_exporter = c.service_container(
            "redis-exporter", p, images["redisExporter"], self,
            health=_wget(9121, "/health"),
            env={"REDIS_ADDR": f"redis://{REDIS_HOST}:{REDIS_PORT}", "REDIS_PASSWORD": args.redis_password})
        # cAdvisor reads the host's cgroups and the Docker state read-only, and keeps only our
        # labels, which the memory alerts and the dashboards select on.
        self.cadvisor = c.service_container(
            "cadvisor", p, images["cadvisor"], self,
            health=_wget(8080, "/healthz"),
            command=["--docker_only=true", "--housekeeping_interval=30s", "--store_container_labels=false",
                     f"--whitelisted_container_labels={c.LABEL_PREFIX}.group,{c.LABEL_PREFIX}.container,"
                     f"{c.LABEL_PREFIX}.stack,{c.LABEL_PREFIX}.service"],
            privileged=True,
            devices=[docker.ContainerDeviceArgs(host_path="/dev/kmsg")],
            volumes=[docker.ContainerVolumeArgs(host_path=h, container_path=h if h != "/" else "/rootfs",
                                                read_only=True)
                     for h in ("/", "/var/run", "/sys", "/var/lib/docker", "/dev/disk")])
        self.node_exporter = c.service_container(
            "node-exporter", p, images["nodeExporter"], self,
            health=_wget(9100, "/metrics"),
            command=["--path.rootfs=/host"], pid_mode="host",
            volumes=[docker.ContainerVolumeArgs(host_path="/", container_path="/host", read_only=True)])

        prometheus_data = c.service_volume(f"{name}-prometheus-data", "prometheus", p, self)
        s = args.settings
        self.prometheus = c.service_container(
            "prometheus", p, images["prometheus"], self,
            health=_wget(PROMETHEUS_PORT, "/-/ready"),
            command=[f"--config.file={PROMETHEUS_CONFIG}", "--storage.tsdb.path=/prometheus",
                     f"--storage.tsdb.retention.time={s.retention}", "--web.console.libraries=/usr/share/prometheus/console_libraries",
                     "--web.console.templates=/usr/share/prometheus/consoles"],
            uploads=[
                c.upload(PROMETHEUS_CONFIG, render_prometheus_config(args.topology, s.scrape_interval,
                                                                     s.evaluation_interval)),
                c.upload(RULES_FILE, render_alert_rules(args.density, args.topology.fault_budget)),
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=prometheus_data.name, container_path="/prometheus")],
            ports=[c.published(PROMETHEUS_PORT, args.admin_bind_address, args.prometheus_host_port)])

        grafana_data = c.service_volume(f"{name}-grafana-data", "grafana", p, self)
        provisioning = "/etc/grafana/provisioning"
        self.grafana = c.service_container(
            "grafana", p, images["grafana"], self,
            health=_wget(GRAFANA_PORT, "/api/health"),
            env={
                "GF_SECURITY_ADMIN_USER": "admin",
                "GF_SECURITY_ADMIN_PASSWORD": args.grafana_admin_password,
                # Strings, always: the spec's YAML boolean bug was exactly this value.
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_AUTH_ANONYMOUS_ENABLED": "false",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
            },
            uploads=[
                c.upload(f"{provisioning}/datasources/aurigraph.yaml",
                         render_datasources(f"http://prometheus:{PROMETHEUS_PORT}", f"http://{JAEGER_HOST}:16686")),
                c.upload(f"{provisioning}/dashboards/aurigraph.yaml", render_dashboard_provider()),
                *[c.upload(f"{DASHBOARDS_PATH}/{file}", text) for file, text in render_dashboards().items()],
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=grafana_data.name, container_path="/var/lib/grafana")],
            ports=[c.published(GRAFANA_PORT, args.admin_bind_address, args.grafana_host_port)],
            depends_on=[self.prometheus])
        self.register_outputs({"prometheus": self.prometheus.name, "grafana": self.grafana.name})
