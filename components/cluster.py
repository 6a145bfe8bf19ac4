"""AurigraphCluster: the cluster network, the node groups, and the services beside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from . import containers as c
from .cache import Cache, CacheArgs
from .credentials import password
from .database import APP_USER, DATABASE, Database, DatabaseArgs
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .monitoring import Monitoring, MonitoringArgs
from .node_group import NodeGroup, NodeGroupArgs
from .settings import Settings
from .topology import (
    JAEGER_HOST,
    OTLP_GRPC_PORT,
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_HOST,
    REDIS_PORT,
    Topology,
)
from .tracing import Tracing, TracingArgs


@dataclass
class ClusterArgs:
    settings: Settings
    topology: Topology
    # Where published ports are reached (the host's address as the operator sees it).
    host_address: pulumi.Input[str]


def service_env(db_password: pulumi.Input[str], redis_password: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """How nodes reach the infrastructure: by container name on the cluster network, never localhost."""
    return {
        "QUARKUS_DATASOURCE_JDBC_URL": f"jdbc:postgresql://{POSTGRES_HOST}:{POSTGRES_PORT}/{DATABASE}",
        "QUARKUS_DATASOURCE_USERNAME": APP_USER,
        "QUARKUS_DATASOURCE_PASSWORD": db_password,
        "QUARKUS_REDIS_HOSTS": f"redis://{REDIS_HOST}:{REDIS_PORT}",
        "QUARKUS_REDIS_PASSWORD": redis_password,
        "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{JAEGER_HOST}:{OTLP_GRPC_PORT}",
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
        super().__init__("aurigraph:index:AurigraphCluster", name, None, opts)
        settings, topology = args.settings, args.topology

        child = pulumi.ResourceOptions(parent=self)
        self.network = docker.Network(
            f"{name}-network",
            name=f"{settings.stack}-net",
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label="io.aurigraph.stack", value=settings.stack)],
            opts=child,
        )

        placement = c.Placement(stack=settings.stack, network_name=self.network.name,
                                protect_data=settings.protect_data)
        images, ports = settings.service_images, settings.ports

        self.database = Database("postgres", DatabaseArgs(placement, images["postgres"],
                                                          settings.secrets.db_password), opts=child)
        self.cache = Cache("redis", CacheArgs(placement, images["redis"], settings.cache,
                                              settings.secrets.redis_password), opts=child)
        self.tracing = Tracing("jaeger", TracingArgs(placement, images["jaeger"], settings.admin_bind_address,
                                                     ports["jaeger"]), opts=child)
        self.monitoring = Monitoring("monitoring", MonitoringArgs(
            placement=placement, images=images, topology=topology, density=settings.density,
            settings=settings.monitoring, admin_bind_address=settings.admin_bind_address,
            prometheus_host_port=ports["prometheus"], grafana_host_port=ports["grafana"],
            metrics_db_password=self.database.metrics_password, redis_password=self.cache.password,
            grafana_admin_password=password("grafana-admin-password", settings.secrets.grafana_admin_password, self),
        ), opts=child)
        self.load_balancer = LoadBalancer("haproxy", LoadBalancerArgs(
            placement=placement, image=images["haproxy"], topology=topology,
            api_bind_address=settings.api_bind_address, api_host_port=ports["api"],
            admin_bind_address=settings.admin_bind_address, stats_host_port=ports["haproxyStats"],
        ), opts=child)

        shared_env = {**settings.tuning.as_env(), **consensus_env(topology),
                      **service_env(self.database.app_password, self.cache.password)}
        self.groups: dict[str, NodeGroup] = {}
        for plan in topology.groups:
            self.groups[plan.name] = NodeGroup(
                plan.name,
                NodeGroupArgs(
                    plan=plan,
                    placement=placement,
                    env=shared_env,
                    pull_image=settings.pull_image,
                    depends_on=[self.database.container, self.cache.container],
                ),
                opts=child,
            )

        self.nodes = pulumi.Output.from_input(node_inventory(topology))
        self.endpoints = pulumi.Output.from_input(args.host_address).apply(
            lambda host: endpoints(settings, host))
        self.register_outputs({"nodes": self.nodes, "endpoints": self.endpoints})


def endpoints(settings: Settings, host_address: str) -> dict[str, str]:
    """Published URLs: the bind address where it is specific, else the host's own address."""

    def url(bind: str, port: int, path: str = "") -> str:
        host = host_address if bind in ("0.0.0.0", "::") else bind
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}"

    admin, ports = settings.admin_bind_address, settings.ports
    return {
        "api": url(settings.api_bind_address, ports["api"], "/api/v11"),
        "grafana": url(admin, ports["grafana"]),
        "prometheus": url(admin, ports["prometheus"]),
        "jaeger": url(admin, ports["jaeger"]),
        "haproxyStats": url(admin, ports["haproxyStats"]),
    }


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
