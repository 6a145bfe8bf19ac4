"""prometheus.yml and the alert rules, from the topology and the spec's KPI tables (model/kpis.py).

Kept within what both Prometheus 2.42 (Debian's promtool, used in tests) and 2.48 (deployed)
accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import yaml

from model.kpis import Kpis, kpis_for
from model.services import SERVICES, ServiceSpec, service
from model.topology import METRICS_PATH, LogicalNode, Topology

from . import backup

# Metrics every node exposes on METRICS_PATH (the node image contract). The first six are the
# spec's; the consensus ones feed the election alert, the quorum check and the smoke tool.
NODE_METRICS = (
    "transaction_rate",
    "finality_latency_ms",
    "consensus_log_replication_latency_ms",
    "leveldb_cache_hit_ratio",
    "jvm_memory_used_bytes",
    "process_cpu_usage",
    "consensus_leader_elections_total",
    "consensus_term",
    "consensus_is_leader",
    # 1, labelled checkpoint="<n>" and hash="<state hash at that checkpoint>": validators agree
    # when every checkpoint has one hash (nodes scraped either side of a checkpoint differ).
    "consensus_state_hash_info",
)

NODE_JOB_PREFIX = "aurigraph-"


@dataclass(frozen=True)
class ScrapeTarget:
    """One infrastructure scrape job (not the Exporter component, which runs the container)."""

    job: str
    target: str  # host:port on the cluster network
    metric_prefixes: tuple[str, ...]  # what it contributes (lets tests tie panels to jobs)
    metrics_path: str = "/metrics"


# Infrastructure scrape targets, by container name on the cluster network (Prometheus itself
# at localhost), from the service registry.
def scrape_targets(services: Iterable[ServiceSpec] = SERVICES) -> tuple[ScrapeTarget, ...]:
    return tuple(
        ScrapeTarget(
            s.metrics.job,
            f"{'localhost' if s.name == 'prometheus' else s.name}:{s.metrics.port}",
            s.metrics.prefixes,
            s.metrics.path,
        )
        for s in services
        if s.metrics is not None
    )


SCRAPE_TARGETS = scrape_targets()


def node_job(group: str) -> str:
    return f"{NODE_JOB_PREFIX}{group}"


def dns_address(node: LogicalNode) -> str:
    return f"{node.container}:{node.http_port}"


def render_prometheus_config(
    topology: Topology,
    scrape_interval: str,
    evaluation_interval: str,
    *,
    address: Callable[[LogicalNode], str] = dns_address,
    exporters: tuple[ScrapeTarget, ...] = SCRAPE_TARGETS,
    rule_files: tuple[str, ...] = ("/etc/prometheus/rules/*.yml",),
    alertmanagers: tuple[str, ...] = (service("alertmanager").address,),
) -> str:
    """One scrape target per logical node, labelled with its group, node and container; alerts go
    to `alertmanagers` (host:port)."""
    jobs = []
    for group in topology.groups:
        jobs.append(
            {
                "job_name": node_job(group.name),
                "scrape_interval": scrape_interval,
                "metrics_path": METRICS_PATH,
                "static_configs": [
                    {"targets": [address(n)], "labels": {"group": n.group, "node": n.name, "container": n.container}}
                    for n in group.nodes
                ],
            }
        )
    for e in exporters:
        jobs.append(
            {
                "job_name": e.job,
                "scrape_interval": scrape_interval,
                "metrics_path": e.metrics_path,
                "static_configs": [{"targets": [e.target]}],
            }
        )
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
            "external_labels": {"stack": topology.stack},
        },
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]},
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _node_selector(group: str | None = None) -> str:
    return f'job="{node_job(group)}"' if group else f'job=~"{NODE_JOB_PREFIX}.*"'


def alert_rules(kpis: Kpis, fault_budget: int) -> list[dict]:
    nodes = _node_selector()
    validators = _node_selector("validator")
    member = 'container_label_io_aurigraph_group!=""'
    memory_ratio = f"container_memory_working_set_bytes{{{member}}} / container_spec_memory_limit_bytes{{{member}}}"

    rules = [
        _rule(
            "AurigraphTpsLow",
            f"sum(transaction_rate{{{validators}}}) < {kpis.tps_min}",
            "10m",
            "critical",
            f"Cluster TPS below {kpis.tps_min} for 10 minutes",
        ),
        _rule(
            "AurigraphP95LatencyHigh",
            f'max by (node, group) (finality_latency_ms{{{nodes},quantile="0.95"}}) > {kpis.p95_ms}',
            "10m",
            "warning",
            f"P95 finality latency above {kpis.p95_ms} ms on {{{{ $labels.node }}}}",
        ),
        _rule(
            "AurigraphP99LatencyHigh",
            f'max by (node, group) (finality_latency_ms{{{nodes},quantile="0.99"}}) > {kpis.p99_ms}',
            "10m",
            "critical",
            f"P99 finality latency above {kpis.p99_ms} ms on {{{{ $labels.node }}}}",
        ),
        _rule(
            "AurigraphCpuHigh",
            f"max by (node, group) (process_cpu_usage{{{nodes}}}) > {kpis.cpu_max}",
            "10m",
            "warning",
            f"CPU above {kpis.cpu_max:.0%} on {{{{ $labels.node }}}}",
        ),
        _rule(
            "AurigraphContainerMemoryHigh",
            f"{memory_ratio} > {kpis.memory_max}",
            "5m",
            "critical",
            f"Memory above {kpis.memory_max:.0%} of the limit in {{{{ $labels.container_label_io_aurigraph_container }}}}",
        ),
        _rule(
            "AurigraphContainerMemoryLow",
            f"{memory_ratio} < {kpis.memory_min}",
            "1h",
            "info",
            f"Memory below {kpis.memory_min:.0%} of the limit in {{{{ $labels.container_label_io_aurigraph_container }}}}: the limit can shrink",
        ),
        _rule(
            "AurigraphCacheHitRatioLow",
            f"min by (node, group) (leveldb_cache_hit_ratio{{{nodes}}}) < {kpis.cache_hit_min}",
            "15m",
            "warning",
            f"LevelDB cache hit ratio below {kpis.cache_hit_min:.0%} on {{{{ $labels.node }}}}",
        ),
        _rule(
            "AurigraphNodeUptimeLow",
            f"avg_over_time(up{{{nodes}}}[1h]) < {kpis.uptime_min}",
            "5m",
            "warning",
            f"{{{{ $labels.node }}}} was up less than {kpis.uptime_min:.1%} of the last hour",
        ),
        _rule(
            "AurigraphLeaderElectionsFrequent",
            f"max(increase(consensus_leader_elections_total{{{validators}}}[1h])) > {kpis.elections_per_hour_max}",
            "5m",
            "warning",
            f"More than {kpis.elections_per_hour_max} leader elections in the last hour",
        ),
        _rule("AurigraphNodeDown", f"up{{{nodes}}} == 0", "1m", "warning", "{{ $labels.node }} is down"),
        _rule(
            QUORUM_ALERT,
            f"count(up{{{validators}}} == 0) > {fault_budget}",
            "1m",
            "critical",
            f"More than f = {fault_budget} validator nodes down: consensus has lost its quorum",
        ),
    ]
    if kpis.node_memory_max_mb is not None:
        limit = kpis.node_memory_max_mb * 1024 * 1024
        rules.append(
            _rule(
                "AurigraphNodeMemoryHigh",
                f"sum by (node, group) (jvm_memory_used_bytes{{{nodes}}}) > {limit}",
                "10m",
                "warning",
                f"{{{{ $labels.node }}}} uses more than {kpis.node_memory_max_mb} MB",
            )
        )
    return rules


# Quorum lost explains these per-node alerts on validators: Alertmanager silences them while it fires.
QUORUM_ALERT = "AurigraphValidatorQuorumAtRisk"
EXPLAINED_BY_QUORUM = ("AurigraphNodeDown", "AurigraphNodeUptimeLow")


def _rule(name: str, expr: str, duration: str, severity: str, summary: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def backup_rules(max_age_seconds: int, bucket: bool) -> list[dict]:
    """From the backup container's status (render/backup.py), read by node-exporter's textfile collector."""
    hours = f"{max_age_seconds / 3600:.3g} h"
    rules = [
        _rule(
            "AurigraphBackupTooOld",
            f"time() - {backup.LAST_SUCCESS} > {max_age_seconds}",
            "5m",
            "critical",
            f"The last verified PostgreSQL backup is older than {hours} (0 means none yet)",
        ),
        _rule(
            "AurigraphBackupFailing",
            f"{backup.FAILURES} > 0",
            "1m",
            "warning",
            "The last {{ $value }} PostgreSQL backup attempts failed (see the postgres-backup container's log)",
        ),
        _rule(
            "AurigraphBackupStatusMissing",
            f"absent({backup.LAST_SUCCESS})",
            "15m",
            "warning",
            "No backup status: the postgres-backup container or node-exporter is not running",
        ),
    ]
    if bucket:
        rules += [
            _rule(
                "AurigraphBackupUploadFailing",
                f"{backup.UPLOAD_FAILURES} > 0",
                "1m",
                "warning",
                "Copying the backups to the S3 bucket failed (see the backup-uploader container's log)",
            ),
            _rule(
                "AurigraphBackupUploadTooOld",
                f"time() - {backup.UPLOAD_LAST_SUCCESS} > {max_age_seconds}",
                "5m",
                "critical",
                f"The backups have not reached the S3 bucket for {hours}",
            ),
        ]
    return rules


def render_alert_rules(
    density: str, fault_budget: int, backup_max_age: int | None = None, backup_bucket: bool = False
) -> str:
    """The KPI rules, and the backup rules unless backups are off (`backup_max_age` None)."""
    groups = [{"name": "aurigraph-kpis", "rules": alert_rules(kpis_for(density), fault_budget)}]
    if backup_max_age is not None:
        groups.append({"name": "aurigraph-backups", "rules": backup_rules(backup_max_age, backup_bucket)})
    return yaml.safe_dump({"groups": groups}, sort_keys=False)
