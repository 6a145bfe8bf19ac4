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

host = create_host(settings, plan)
cluster = AurigraphCluster(
    "aurigraph",
    ClusterArgs(
        stack=settings.stack,
        density=settings.density,
        topology=topology,
        max_unavailable=plan.max_unavailable,
        node_env=settings.tuning.as_env(),
        pull_image=settings.pull_image,
        protect_data=settings.protect_data,
        admin_bind_address=settings.admin_bind_address,
        api_bind_address=settings.api_bind_address,
        ports=settings.ports,
        service_images=settings.service_images,
        monitoring=settings.monitoring,
        cache=settings.cache,
        alerting=settings.alerting,
        backup=settings.backup,
        backup_bucket=host.backup_bucket,
        alert_secrets=dict(webhook_url=settings.secrets.alert_webhook_url,
                           slack_webhook_url=settings.secrets.alert_slack_webhook_url,
                           pagerduty_routing_key=settings.secrets.alert_pagerduty_routing_key,
                           smtp_password=settings.secrets.alert_smtp_password),
        db_password=settings.secrets.db_password,
        redis_password=settings.secrets.redis_password,
        grafana_admin_password=settings.secrets.grafana_admin_password,
        host_address=host.address,
    ),
    opts=pulumi.ResourceOptions(providers=[host.provider]),
)

pulumi.export("nodes", cluster.nodes)
pulumi.export("endpoints", cluster.endpoints)
pulumi.export("counts", topology.counts())
pulumi.export("validatorPeers", topology.validator_peers)
pulumi.export("faultBudget", topology.fault_budget)
pulumi.export("capacity", plan.capacity.as_output())
pulumi.export("host", {"target": settings.target, "address": host.address,
                       **({"dockerHost": host.docker_host} if host.docker_host is not None else {}),
                       **({"size": plan.vm_size.size} if plan.vm_size else {})})
pulumi.export("density", settings.density)
pulumi.export("protectData", settings.protect_data)
# What the restore drill (tools.drill restore) works with; None with backup.enabled false.
pulumi.export("backup", {"container": cluster.backup.container.name, "database": cluster.database.container.name,
                         "interval": settings.backup.interval, "keep": settings.backup.keep,
                         **({"bucket": host.backup_bucket.url} if host.backup_bucket else {})}
              if cluster.backup else None)
