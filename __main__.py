"""Aurigraph V11 cluster: config -> settings -> topology -> plan -> host -> cluster -> stack outputs."""

import pulumi

import pulumi_adapter
from components.cluster import AurigraphCluster, ClusterArgs
from components.hosts import create_host
from model.planning import make_plan
from model.problems import PROJECT, ConfigError
from model.settings import parse_settings
from model.topology import build_topology

# Settings and the plan refuse a bad config in one line naming the key, before anything is
# registered; as a RunError, the CLI prints that line without a traceback.
values, secret_keys, other_namespaces = pulumi_adapter.namespace(PROJECT)
try:
    settings = parse_settings(values, pulumi.get_stack(), secret_keys, other_namespaces)
    topology = build_topology(settings)
    plan = make_plan(settings, topology)
except ConfigError as error:
    raise pulumi_adapter.refused(error) from None
for warning in plan.warnings:
    pulumi.log.warn(warning)


def deploy_docker() -> None:
    """The Docker targets: a host (local, ssh or a cloud VM) and the cluster on its daemon."""
    host = create_host(settings, plan)
    cluster = AurigraphCluster(
        "aurigraph",
        ClusterArgs(settings=settings, topology=topology, max_unavailable=plan.max_unavailable, host=host),
        opts=pulumi.ResourceOptions(providers=[host.provider]),
    )
    export_common(cluster.nodes, cluster.endpoints)
    pulumi.export(
        "host",
        {
            "target": settings.target,
            "address": host.address,
            **({"dockerHost": host.docker_host} if host.docker_host is not None else {}),
            **({"size": plan.vm_size.size} if plan.vm_size else {}),
        },
    )
    # What the restore drill (tools.drill restore) works with; None with backup.enabled false.
    pulumi.export(
        "backup",
        {
            "container": cluster.backup.container.name,
            "database": cluster.database.container.name,
            "interval": settings.backup.interval,
            "keep": settings.backup.keep,
            **({"bucket": host.backup_bucket.url} if host.backup_bucket else {}),
        }
        if cluster.backup
        else None,
    )


def deploy_kubernetes() -> None:
    """Target kubernetes: the cluster the provider's config (or KUBECONFIG) names."""
    from components.kube.cluster import KubeCluster, KubeClusterArgs
    from components.kube.pods import pod_name

    assert settings.kubernetes is not None and plan.zone_loss is not None
    cluster = KubeCluster("aurigraph", KubeClusterArgs(settings=settings, topology=topology, plan=plan))
    export_common(cluster.nodes, cluster.endpoints)
    pulumi.export(
        "kubernetes",
        {
            "namespace": settings.kubernetes.namespace,
            "zoneKey": settings.kubernetes.zone_key,
            "zones": settings.kubernetes.zones,
            "worstZoneLoss": plan.zone_loss,
            "disruptionBudgets": plan.max_unavailable,
            "backupSchedule": cluster.backup.spec.schedule if cluster.backup else None,
            # When the newest verified backup counts as too old (the alert's threshold, the smoke test's).
            "backupMaxAgeSeconds": settings.backup.max_age_seconds if cluster.backup else None,
        },
    )
    # What the restore drill (tools.drill restore) works with; None with backup.enabled false.
    pulumi.export(
        "backup",
        {
            "cronJob": cluster.backup.metadata.name,
            "databasePod": pod_name(cluster.database),
            "interval": settings.backup.interval,
            "keep": settings.backup.keep,
        }
        if cluster.backup
        else None,
    )


def export_common(nodes: pulumi.Output, endpoints: pulumi.Output) -> None:
    pulumi.export("nodes", nodes)
    pulumi.export("endpoints", endpoints)
    pulumi.export("counts", topology.counts())
    pulumi.export("validatorPeers", topology.validator_peers)
    pulumi.export("faultBudget", topology.fault_budget)
    pulumi.export("capacity", plan.capacity.as_output())
    pulumi.export("density", settings.density)
    pulumi.export("protectData", settings.protect_data)


if settings.target == "kubernetes":
    deploy_kubernetes()
else:
    deploy_docker()
