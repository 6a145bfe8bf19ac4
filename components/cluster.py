"""AurigraphCluster: the cluster network, the node groups, and the services beside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

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

DATABASE_NAME = "aurigraph"
DATABASE_USER = "aurigraph"


@dataclass
class ClusterArgs:
    settings: Settings
    topology: Topology
    # Where published ports are reached (the host's address as the operator sees it).
    host_address: pulumi.Input[str]


def service_env() -> dict[str, str]:
    """How nodes reach the infrastructure: by container name on the cluster network, never localhost."""
    return {
        "QUARKUS_DATASOURCE_JDBC_URL": f"jdbc:postgresql://{POSTGRES_HOST}:{POSTGRES_PORT}/{DATABASE_NAME}",
        "QUARKUS_DATASOURCE_USERNAME": DATABASE_USER,
        "QUARKUS_REDIS_HOSTS": f"redis://{REDIS_HOST}:{REDIS_PORT}",
        "QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{JAEGER_HOST}:{OTLP_GRPC_PORT}",
    }


def group_env(topology: Topology, group: str) -> dict[str, str]:
    """Per-group consensus wiring.

    Validators get the full peer list. The other groups get one seed, validator-1's first
    node, which exists in every layout; so growing the validators never restarts them.
    """
    validators = topology.group("validator")
    if group == "validator":
        return {
            "AURIGRAPH_VALIDATOR_PEERS": ",".join(topology.validator_peers),
            "AURIGRAPH_FAULT_BUDGET": str(topology.fault_budget),
        }
    return {"AURIGRAPH_CONSENSUS_SEED": validators.containers[0].nodes[0].p2p_address}


class AurigraphCluster(pulumi.ComponentResource):
    nodes: pulumi.Output[dict[str, Any]]
    endpoints: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:AurigraphCluster", name, None, opts)
        settings, topology = args.settings, args.topology

        self.network = docker.Network(
            f"{name}-network",
            name=f"{settings.stack}-net",
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label="io.aurigraph.stack", value=settings.stack)],
            opts=pulumi.ResourceOptions(parent=self),
        )

        shared_env = {**settings.tuning.as_env(), **service_env()}
        self.groups: dict[str, NodeGroup] = {}
        for plan in topology.groups:
            self.groups[plan.name] = NodeGroup(
                plan.name,
                NodeGroupArgs(
                    plan=plan,
                    stack=settings.stack,
                    network_name=self.network.name,
                    env={**shared_env, **group_env(topology, plan.name)},
                    pull_image=settings.pull_image,
                    protect_data=settings.protect_data,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.nodes = pulumi.Output.from_input(node_inventory(topology))
        self.endpoints = pulumi.Output.from_input({})
        self.register_outputs({"nodes": self.nodes, "endpoints": self.endpoints})


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
