"""KubeCluster: the Aurigraph cluster on Kubernetes, the same topology and services as on Docker.

The namespace enforces the restricted Pod Security Standard. Every password is generated (or
configured) once, kept secret in state, and reaches pods only through Secrets. The nodes start
once PostgreSQL and Redis are ready, then roll out group by group in the plan's waves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from model.config import GROUP_NAMES
from model.planning import Plan
from model.services import DATABASE, SERVICES, service
from model.settings import Settings
from model.topology import Topology
from render.backup import render_backup_role
from render.datastores import render_postgres_init, render_postgres_roles

from ..cluster import DB_PASSWORD_ENV, REDIS_PASSWORD_ENV, consensus_env, node_inventory, service_addresses
from ..credentials import password
from ..database import APP_USER, METRICS_USER
from . import pods
from . import services as s
from .node_group import KubeNodeGroup, KubeNodeGroupArgs

TYPE = "aurigraph:kubernetes:Cluster"
# The Pod Security Standard the namespace enforces, audits and warns about.
POD_SECURITY = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}


@dataclass
class KubeClusterArgs:
    settings: Settings
    topology: Topology
    plan: Plan


def network_policy(
    name: str, placement: pods.KubePlacement, port: int, clients: Mapping[str, list[str]], parent: pulumi.Resource
) -> k8s.networking.v1.NetworkPolicy:
    """Only `clients` (label -> values, each a pod selector in this namespace) reach `name`'s port."""
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-clients",
        metadata={"name": f"{name}-clients", "namespace": placement.namespace, "labels": pods.labels(placement, name)},
        spec={
            "podSelector": {"matchLabels": pods.selector(name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchExpressions": [{"key": key, "operator": "In", "values": values}]}}
                        for key, values in clients.items()
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


class KubeCluster(pulumi.ComponentResource):
    nodes: pulumi.Output[dict[str, Any]]
    endpoints: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: KubeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings, topology, plan = args.settings, args.topology, args.plan
        assert settings.kubernetes is not None  # target kubernetes
        k, secrets = settings.kubernetes, settings.secrets
        child = pulumi.ResourceOptions(parent=self)

        # Retained: deleting a namespace deletes every claim in it, and the claims outlive the stack.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": k.namespace, "labels": {**pods.PART_OF, **POD_SECURITY}},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        placement = pods.KubePlacement(
            stack=settings.stack,
            namespace=self.namespace.metadata.name,
            kubernetes=k,
            capacity=settings.capacity,
            protect_data=settings.protect_data,
            images=settings.service_images,
        )

        superuser = password("postgres-superuser-password", None, self)
        app = password("postgres-app-password", secrets.db_password, self)
        metrics = password("postgres-metrics-password", None, self)
        cache = password("redis-password", secrets.redis_password, self)
        grafana_admin = password("grafana-admin-password", secrets.grafana_admin_password, self)
        backup = password("postgres-backup-password", None, self) if settings.backup.enabled else None

        passwords = pulumi.Output.all(app, metrics)
        init_sql = passwords.apply(lambda pw: render_postgres_init(DATABASE, APP_USER, pw[0], METRICS_USER, pw[1]))
        roles_sql = passwords.apply(lambda pw: render_postgres_roles(APP_USER, pw[0], METRICS_USER, pw[1]))
        if backup is not None:
            roles_sql = pulumi.Output.all(roles_sql, backup).apply(lambda a: a[0] + render_backup_role(DATABASE, a[1]))

        def run(workload: pods.Workload, depends_on: list[pulumi.Resource] | None = None) -> k8s.apps.v1.StatefulSet:
            return pods.stateful(workload.name, workload, placement, self, depends_on or [])

        database = s.postgres(placement, superuser, init_sql, roles_sql)
        self.database = run(database)
        self.cache = run(s.redis(placement, settings.cache, cache))
        run(s.jaeger(placement))
        run(s.postgres_exporter(placement, METRICS_USER, metrics))
        run(s.redis_exporter(placement, cache))
        run(s.alertmanager(placement, settings.alerting, settings.monitoring, secrets, self))
        prometheus = run(s.prometheus(placement, topology, settings.density, settings.monitoring, settings.backup))
        run(s.grafana(placement, grafana_admin), [prometheus])
        run(s.haproxy(placement, topology))
        self.backup = None
        if backup is not None:
            status = run(s.backup_status(placement))
            self.backup = s.backup_job(placement, settings.backup, backup, self, [self.database, status])

        haproxy = service("haproxy")
        api_port = next(p.port for p in haproxy.published if p.key == "api")
        self.api = k8s.core.v1.Service(
            "api",
            metadata={"name": "api", "namespace": placement.namespace, "labels": pods.labels(placement, "api")},
            spec={
                "type": k.api_service_type,
                "selector": pods.selector(haproxy.name),
                "ports": [{"name": "api", "port": api_port, "targetPort": api_port}],
                **({"loadBalancerSourceRanges": list(k.api_cidrs)} if k.api_cidrs else {}),
            },
            opts=child,
        )

        node_pods = {f"{pods.LABEL}/group": list(GROUP_NAMES)}
        network_policy(
            "postgres",
            placement,
            service("postgres").port,
            {**node_pods, f"{pods.LABEL}/workload": ["postgres-exporter", "postgres-backup"]},
            self,
        )
        network_policy(
            "redis", placement, service("redis").port, {**node_pods, f"{pods.LABEL}/workload": ["redis-exporter"]}, self
        )

        node_secret = k8s.core.v1.Secret(
            "node-credentials",
            metadata={"namespace": placement.namespace, "labels": pods.labels(placement, "node-credentials")},
            string_data={"db-password": app, "redis-password": cache},
            type="Opaque",
            opts=child,
        )
        # The same env contract as on Docker, but the two passwords come from the Secret.
        secret_env = pods.secret_refs(
            node_secret.metadata.name, {DB_PASSWORD_ENV: "db-password", REDIS_PASSWORD_ENV: "redis-password"}
        )
        plain = {**settings.tuning.as_env(), **consensus_env(topology), **service_addresses()}
        self.groups = {
            layout.name: KubeNodeGroup(
                layout.name,
                KubeNodeGroupArgs(
                    layout=layout,
                    max_unavailable=plan.max_unavailable[layout.name],
                    placement=placement,
                    env={**plain, **layout.settings.env()},
                    secret_env=secret_env,
                    depends_on=[self.database, self.cache],
                ),
                opts=child,
            )
            for layout in topology.groups
        }

        inventory = node_inventory(topology)
        for node in inventory.values():
            node.pop("dockerName")
            node["pod"] = pods.pod_name(self.groups[node["group"]].workloads[node["container"]])
        self.nodes = pulumi.Output.from_input(inventory)
        self.endpoints = pulumi.Output.from_input(endpoints(k.namespace))
        self.register_outputs({"nodes": self.nodes, "endpoints": self.endpoints})


def endpoints(namespace: str) -> dict[str, str]:
    """In-cluster URLs; from outside, `kubectl port-forward -n NAMESPACE svc/NAME PORT`."""
    return {
        p.key: f"http://{'api' if p.key == 'api' else s.name}.{namespace}.svc:{p.port}{p.path}"
        for s in SERVICES
        for p in s.published
    }
