"""Aurigraph V11 cluster: settings -> host -> cluster -> stack outputs."""

import pulumi

from components.cluster import AurigraphCluster, ClusterArgs
from components.hosts import create_host
from components.settings import load_settings
from components.topology import build_topology

settings = load_settings()  # raises ConfigError, naming the key, before anything is registered
for warning in settings.warnings:
    pulumi.log.warn(warning)

topology = build_topology(settings)
host = create_host(settings)
cluster = AurigraphCluster(
    "aurigraph",
    ClusterArgs(settings=settings, topology=topology, host_address=host.address),
    opts=pulumi.ResourceOptions(providers=[host.provider]),
)

pulumi.export("nodes", cluster.nodes)
pulumi.export("endpoints", cluster.endpoints)
pulumi.export("counts", topology.counts())
pulumi.export("validatorPeers", topology.validator_peers)
pulumi.export("faultBudget", topology.fault_budget)
pulumi.export("capacity", settings.capacity.as_output())
pulumi.export("host", {"target": settings.target, "address": host.address,
                       **({"dockerHost": host.docker_host} if host.docker_host is not None else {}),
                       **({"size": settings.vm.size} if settings.vm else {})})
pulumi.export("density", settings.density)
pulumi.export("protectData", settings.protect_data)
