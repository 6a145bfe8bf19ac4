"""AurigraphCluster: the cluster network, the node groups, and the services beside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_docker as docker

from model.config import AlertingConfig, BackupConfig, CacheConfig, MonitoringConfig
from model.services import DATABASE, PUBLISHED, service
from model.topology import Topology

from . import containers as c
from . import exporters
from .alerting import Alerting, AlertingArgs
from .backup import Backup, BackupArgs, Bucket
from .cache import Cache, CacheArgs
from .database import APP_USER, METRICS_USER, Database, DatabaseArgs
from .exporters import Exporter, ExporterArgs
from .grafana import Grafana, GrafanaArgs
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .node_group import NodeGroup, NodeGroupArgs
from .prometheus import Prometheus, PrometheusArgs
from .tracing import Tracing, TracingArgs

TYPE = "aurigraph:index:AurigraphCluster"


@dataclass
class ClusterArgs:
    stack: str
    density: str
    topology: Topology
    max_unavailable: Mapping[str, int]  # group -> containers replaced at once (the rollout plan)
    node_env: Mapping[str, str]  # tuning, the same for every node container
    pull_image: bool
    protect_data: bool
    admin_bind_address: str
    api_bind_address: str
    ports: Mapping[str, int]
    service_images: Mapping[str, str]
    monitoring: MonitoringConfig
    cache: CacheConfig
    alerting: AlertingConfig
    backup: BackupConfig
    # Where backups are also copied (target aws with backup.bucket), else None.
    backup_bucket: Optional[Bucket]
    # Alert receivers' secrets, None when unset.
    alert_secrets: Mapping[str, Optional[str]]
    # Configured secrets (None: generated).
    db_password: Optional[str]
    redis_password: Optional[str]
    grafana_admin_password: Optional[str]
    # Where published ports are reached (the host's address as the operator sees it).
    host_address: pulumi.Input[str]


def service_env(db_password: pulumi.Input[str], redis_password: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """How nodes reach the infrastructure: by container name on the cluster network, never localhost."""
    postgres, redis, jaeger = service("postgres"), service("redis"), service("jaeger")
    return {
        "QUARKUS_DATASOURCE_JDBC_URL": f"jdbc:postgresql://{postgres.address}/{DATABASE}",
        "QUARKUS_DATASOURCE_USERNAME": APP_USER,
        "QUARKUS_DATASOURCE_PASSWORD": db_password,
        "QUARKUS_REDIS_HOSTS": f"redis://{redis.address}",
        "QUARKUS_REDIS_PASSWORD": redis_password,
        "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": jaeger.url(),
    }


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
        topology, images = args.topology, args.service_images

        child = pulumi.ResourceOptions(parent=self)
        self.network = docker.Network(
            f"{name}-network",
            name=f"{args.stack}-net",
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label="io.aurigraph.stack", value=args.stack)],
            opts=child,
        )

        placement = c.Placement(stack=args.stack, network_name=self.network.name, protect_data=args.protect_data,
                                admin_bind_address=args.admin_bind_address, api_bind_address=args.api_bind_address,
                                ports=args.ports)
        self.database = Database("postgres", DatabaseArgs(placement, images["postgres"], args.db_password,
                                                          backup=args.backup.enabled), opts=child)
        self.backup = Backup("postgres-backup", BackupArgs(
            placement, images["postgres"], args.backup, self.database.backup_password, self.database.container,
            bucket=args.backup_bucket, uploader_image=images[service("backup-uploader").image_key]),
            opts=child) if args.backup.enabled else None
        self.cache = Cache("redis", CacheArgs(placement, images["redis"], args.cache, args.redis_password), opts=child)
        self.tracing = Tracing("jaeger", TracingArgs(placement, images["jaeger"]), opts=child)

        # Monitoring was one component until the service registry split it; its children keep
        # their state through an alias to where they were.
        moved = [pulumi.Alias(parent=f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{TYPE}"
                                     f"$aurigraph:index:Monitoring::monitoring")]
        exporter_args = {
            "postgres-exporter": exporters.postgres_exporter(METRICS_USER, self.database.metrics_password),
            "redis-exporter": exporters.redis_exporter(self.cache.password),
            "cadvisor": exporters.cadvisor(),
            "node-exporter": exporters.node_exporter(self.backup.status_volume if self.backup else None),
        }
        self.exporters = {
            key: Exporter(key, ExporterArgs(placement, images[service(key).image_key], aliases=moved, **extra),
                          opts=child)
            for key, extra in exporter_args.items()}
        self.alerting = Alerting("alertmanager", AlertingArgs(placement, images["alertmanager"], args.alerting,
                                                              args.monitoring, **args.alert_secrets), opts=child)
        self.prometheus = Prometheus("prometheus", PrometheusArgs(
            placement, images["prometheus"], topology, args.density, args.monitoring,
            backup_max_age=args.backup.max_age_seconds if args.backup.enabled else None,
            backup_bucket=args.backup_bucket is not None, aliases=moved), opts=child)
        self.grafana = Grafana("grafana", GrafanaArgs(
            placement, images["grafana"], args.grafana_admin_password, depends_on=[self.prometheus.container],
            aliases=moved, password_aliases=[pulumi.Alias(name="grafana-admin-password", parent=self)]), opts=child)
        self.load_balancer = LoadBalancer("haproxy", LoadBalancerArgs(placement, images["haproxy"], topology),
                                          opts=child)

        shared_env = {**args.node_env, **consensus_env(topology),
                      **service_env(self.database.app_password, self.cache.password)}
        self.groups: dict[str, NodeGroup] = {}
        for plan in topology.groups:
            self.groups[plan.name] = NodeGroup(
                plan.name,
                NodeGroupArgs(
                    layout=plan,
                    max_unavailable=args.max_unavailable[plan.name],
                    placement=placement,
                    env={**shared_env, **plan.settings.env()},
                    pull_image=args.pull_image,
                    depends_on=[self.database.container, self.cache.container],
                ),
                opts=child,
            )

        self.nodes = pulumi.Output.from_input(node_inventory(topology))
        self.endpoints = pulumi.Output.from_input(args.host_address).apply(
            lambda host: endpoints(args.admin_bind_address, args.api_bind_address, args.ports, host))
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
