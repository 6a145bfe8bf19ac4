"""AurigraphCluster: the cluster network, the node groups, and the services beside them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from model.services import DATABASE, PUBLISHED, deployed, service
from model.settings import Settings
from model.topology import Topology

from . import containers as c
from . import exporters
from .alerting import Alerting, AlertingArgs
from .backup import Backup, BackupArgs
from .cache import Cache, CacheArgs
from .database import APP_USER, METRICS_USER, Database, DatabaseArgs
from .exporters import Exporter, ExporterArgs
from .grafana import Grafana, GrafanaArgs
from .hosts import Host
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .node_group import NodeGroup, NodeGroupArgs
from .prometheus import Prometheus, PrometheusArgs
from .tracing import Tracing, TracingArgs

TYPE = "aurigraph:index:AurigraphCluster"


@dataclass
class ClusterArgs:
    settings: Settings  # the stack's config, whole
    topology: Topology
    max_unavailable: Mapping[str, int]  # group -> containers replaced at once (the rollout plan)
    host: Host  # where published ports are reached, and the bucket backups are copied to (if any)


# The env contract's two passwords (Docker: values; Kubernetes: references to a Secret).
DB_PASSWORD_ENV = "QUARKUS_DATASOURCE_PASSWORD"
REDIS_PASSWORD_ENV = "QUARKUS_REDIS_PASSWORD"


def service_addresses() -> dict[str, str]:
    """How nodes reach the infrastructure: by container name on the cluster network, never localhost."""
    postgres, redis, jaeger = service("postgres"), service("redis"), service("jaeger")
    return {
        "QUARKUS_DATASOURCE_JDBC_URL": f"jdbc:postgresql://{postgres.address}/{DATABASE}",
        "QUARKUS_DATASOURCE_USERNAME": APP_USER,
        "QUARKUS_REDIS_HOSTS": f"redis://{redis.address}",
        "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": jaeger.url(),
    }


def service_env(db_password: pulumi.Input[str], redis_password: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    return {**service_addresses(), DB_PASSWORD_ENV: db_password, REDIS_PASSWORD_ENV: redis_password}


def consensus_env(topology: Topology) -> dict[str, str]:
    """Consensus wiring, the same for every group: validator-1's nodes as seeds.

    validator-1 exists in every layout and keeps its nodes when groups grow or shrink, so
    the seeds never change with the layout. The full validator set is discovered from them
    at run time rather than baked into env: otherwise adding or removing one validator
    container would restart every validator.
    """
    seeds = topology.group("validator").containers[0].nodes
    return {"AURIGRAPH_CONSENSUS_SEEDS": ",".join(n.p2p_address for n in seeds)}


class AurigraphCluster(pulumi.ComponentResource):
    nodes: pulumi.Output[dict[str, Any]]
    endpoints: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings, topology, host = args.settings, args.topology, args.host
        images, secrets, backup = settings.service_images, settings.secrets, settings.backup
        # What runs is the registry's answer (ServiceSpec.feature), decided once.
        runs = {spec.name for spec in deployed(settings.features)}

        child = pulumi.ResourceOptions(parent=self)
        self.network = docker.Network(
            f"{name}-network",
            name=f"{settings.stack}-net",
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label="io.aurigraph.stack", value=settings.stack)],
            opts=child,
        )

        placement = c.Placement(
            stack=settings.stack,
            network_name=self.network.name,
            protect_data=settings.protect_data,
            admin_bind_address=settings.admin_bind_address,
            api_bind_address=settings.api_bind_address,
            ports=settings.ports,
            images=images,
        )
        self.database = Database(
            "postgres", DatabaseArgs(placement, secrets.db_password, backup="postgres-backup" in runs), opts=child
        )
        # The database makes the backup role's password exactly when the backup runs.
        backup_password = self.database.backup_password
        self.backup = (
            Backup(
                "postgres-backup",
                BackupArgs(placement, backup, backup_password, self.database.container, bucket=host.backup_bucket),
                opts=child,
            )
            if backup_password is not None
            else None
        )
        self.cache = Cache("redis", CacheArgs(placement, settings.cache, secrets.redis_password), opts=child)
        self.tracing = Tracing("jaeger", TracingArgs(placement), opts=child)

        # Monitoring was one component until the service registry split it; its children keep
        # their state through an alias to where they were.
        moved = [
            pulumi.Alias(
                parent=f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{TYPE}"
                f"$aurigraph:index:Monitoring::monitoring"
            )
        ]
        exporter_args = {
            "postgres-exporter": exporters.postgres_exporter(METRICS_USER, self.database.metrics_password),
            "redis-exporter": exporters.redis_exporter(self.cache.password),
            "cadvisor": exporters.cadvisor(),
            "node-exporter": exporters.node_exporter(self.backup.status_volume if self.backup else None),
        }
        self.exporters = {
            key: Exporter(key, ExporterArgs(placement, aliases=moved, **extra), opts=child)
            for key, extra in exporter_args.items()
        }
        self.alerting = Alerting(
            "alertmanager", AlertingArgs(placement, settings.alerting, settings.monitoring, secrets=secrets), opts=child
        )
        self.prometheus = Prometheus(
            "prometheus",
            PrometheusArgs(
                placement,
                topology,
                settings.density,
                settings.monitoring,
                backup_max_age=backup.max_age_seconds if "postgres-backup" in runs else None,
                backup_bucket="backup-uploader" in runs,
                aliases=moved,
            ),
            opts=child,
        )
        self.grafana = Grafana(
            "grafana",
            GrafanaArgs(
                placement,
                secrets.grafana_admin_password,
                depends_on=[self.prometheus.container],
                aliases=moved,
                password_aliases=[pulumi.Alias(name="grafana-admin-password", parent=self)],
            ),
            opts=child,
        )
        self.load_balancer = LoadBalancer("haproxy", LoadBalancerArgs(placement, topology), opts=child)

        shared_env = {
            **settings.tuning.as_env(),
            **consensus_env(topology),
            **service_env(self.database.app_password, self.cache.password),
        }
        self.groups: dict[str, NodeGroup] = {}
        for plan in topology.groups:
            self.groups[plan.name] = NodeGroup(
                plan.name,
                NodeGroupArgs(
                    layout=plan,
                    max_unavailable=args.max_unavailable[plan.name],
                    placement=placement,
                    env={**shared_env, **plan.settings.env()},
                    pull_image=settings.pull_image,
                    depends_on=[self.database.container, self.cache.container],
                ),
                opts=child,
            )

        self.nodes = pulumi.Output.from_input(node_inventory(topology))
        self.endpoints = pulumi.Output.from_input(host.address).apply(
            lambda host: endpoints(settings.admin_bind_address, settings.api_bind_address, settings.ports, host)
        )
        self.register_outputs({"nodes": self.nodes, "endpoints": self.endpoints})


def endpoints(admin_bind: str, api_bind: str, ports: Mapping[str, int], host_address: str) -> dict[str, str]:
    """Published URLs: the bind address where it is specific, else the host's own address."""

    def url(bind: str, port: int, path: str = "") -> str:
        host = host_address if bind in ("0.0.0.0", "::") else bind
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}"

    return {p.key: url(admin_bind if p.admin else api_bind, ports[p.key], p.path) for p in PUBLISHED}


def node_inventory(topology: Topology) -> dict[str, Any]:
    """Logical node -> where it runs, for operators and the smoke tools."""
    return {
        n.name: {
            "container": n.container,
            "dockerName": f"{topology.stack}-{n.container}",
            "group": n.group,
            "ports": {"http": n.http_port, "p2p": n.p2p_port},
        }
        for n in topology.nodes
    }
