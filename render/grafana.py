"""Grafana provisioning (datasources, dashboard provider) and the spec's four dashboards.

Every panel queries metrics the rendered prometheus.yml really scrapes: the node metrics of
the image contract, and the exporters' (cAdvisor, node-exporter, PostgreSQL, Redis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from .prometheus import NODE_JOB_PREFIX

PROMETHEUS_UID = "prometheus"
JAEGER_UID = "jaeger"
DASHBOARDS_PATH = "/etc/grafana/dashboards/aurigraph"
SCHEMA_VERSION = 38  # Grafana 10.2
PROM = {"type": "prometheus", "uid": PROMETHEUS_UID}

NODES = f'job=~"{NODE_JOB_PREFIX}.*"'
VALIDATORS = 'group="validator"'
MEMBERS = 'container_label_io_aurigraph_group!=""'  # cAdvisor's copy of our Docker label


def render_datasources(prometheus_url: str, jaeger_url: str) -> str:
    # No scrape interval here: Grafana must not be replaced when only Prometheus's config changes.
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "uid": PROMETHEUS_UID,
                    "type": "prometheus",
                    "access": "proxy",
                    "url": prometheus_url,
                    "isDefault": True,
                    "editable": False,
                },
                {
                    "name": "Jaeger",
                    "uid": JAEGER_UID,
                    "type": "jaeger",
                    "access": "proxy",
                    "url": jaeger_url,
                    "editable": False,
                },
            ],
        },
        sort_keys=False,
    )


def render_dashboard_provider() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "aurigraph",
                    "folder": "Aurigraph",
                    "type": "file",
                    "disableDeletion": True,
                    "allowUiUpdates": False,
                    "updateIntervalSeconds": 60,
                    "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
                }
            ],
        },
        sort_keys=False,
    )


@dataclass(frozen=True)
class P:
    """One panel: a title, its queries (expr, legend), a unit and a visualisation."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"


def _panel(i: int, p: P) -> dict:
    width = 12 if p.kind == "timeseries" else 6
    per_row = 24 // width
    return {
        "id": i + 1,
        "type": p.kind,
        "title": p.title,
        "datasource": PROM,
        "gridPos": {"h": 8, "w": width, "x": (i % per_row) * width, "y": (i // per_row) * 8},
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + j), "datasource": PROM, "expr": expr, "legendFormat": legend}
            for j, (expr, legend) in enumerate(p.queries)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[P]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["aurigraph"],
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "panels": [_panel(i, p) for i, p in enumerate(panels)],
        "templating": {"list": []},
        "annotations": {"list": []},
    }


def dashboards() -> dict[str, dict]:
    """File name -> dashboard model."""
    return {
        "cluster-overview.json": _dashboard(
            "aurigraph-overview",
            "Aurigraph Cluster Overview",
            [
                P("Total TPS", ((f"sum(transaction_rate{{{VALIDATORS}}})", "TPS"),), "short", "stat"),
                P("Nodes up", ((f"sum(up{{{NODES}}})", "up"),), "short", "stat"),
                P("Node containers", ((f"count(container_last_seen{{{MEMBERS}}})", "containers"),), "short", "stat"),
                P("Validators down", ((f"count(up{{{VALIDATORS}}} == 0) or vector(0)", "down"),), "short", "stat"),
                P("TPS over time", ((f"sum(transaction_rate{{{VALIDATORS}}})", "cluster"),)),
                P("Nodes up by group", ((f"sum by (group) (up{{{NODES}}})", "{{group}}"),)),
                P(
                    "P95 finality latency by group",
                    ((f'avg by (group) (finality_latency_ms{{{NODES},quantile="0.95"}})', "{{group}}"),),
                    "ms",
                ),
                P(
                    "Cluster CPU and memory",
                    (
                        (f"sum(rate(container_cpu_usage_seconds_total{{{MEMBERS}}}[5m]))", "CPU cores"),
                        (f"sum(container_memory_working_set_bytes{{{MEMBERS}}}) / 1024 / 1024", "memory MB"),
                    ),
                ),
            ],
        ),
        "validator-performance.json": _dashboard(
            "aurigraph-validators",
            "Aurigraph Validator Performance",
            [
                P("TPS per validator", ((f"transaction_rate{{{VALIDATORS}}}", "{{node}}"),)),
                P(
                    "Leader elections (1h)",
                    ((f"max(increase(consensus_leader_elections_total{{{VALIDATORS}}}[1h]))", "elections"),),
                ),
                P(
                    "Consensus log replication latency",
                    ((f"consensus_log_replication_latency_ms{{{VALIDATORS}}}", "{{node}}"),),
                    "ms",
                ),
                P("Consensus term by validator", ((f"consensus_term{{{VALIDATORS}}}", "{{node}}"),)),
                P("Current leader", ((f"consensus_is_leader{{{VALIDATORS}}} == 1", "{{node}}"),)),
                P(
                    "P99 finality latency",
                    ((f'finality_latency_ms{{{VALIDATORS},quantile="0.99"}}', "{{node}}"),),
                    "ms",
                ),
            ],
        ),
        "resource-utilization.json": _dashboard(
            "aurigraph-resources",
            "Aurigraph Resource Utilization",
            [
                P(
                    "CPU per container",
                    (
                        (
                            f"rate(container_cpu_usage_seconds_total{{{MEMBERS}}}[5m])",
                            "{{container_label_io_aurigraph_container}}",
                        ),
                    ),
                ),
                P(
                    "Memory against limit",
                    (
                        (
                            f"container_memory_working_set_bytes{{{MEMBERS}}} / container_spec_memory_limit_bytes{{{MEMBERS}}}",
                            "{{container_label_io_aurigraph_container}}",
                        ),
                    ),
                    "percentunit",
                ),
                P(
                    "Disk I/O",
                    (
                        (
                            f"rate(container_fs_writes_bytes_total{{{MEMBERS}}}[5m])",
                            "write {{container_label_io_aurigraph_container}}",
                        ),
                        (
                            f"rate(container_fs_reads_bytes_total{{{MEMBERS}}}[5m])",
                            "read {{container_label_io_aurigraph_container}}",
                        ),
                    ),
                    "Bps",
                ),
                P(
                    "Network",
                    (
                        (
                            f"rate(container_network_receive_bytes_total{{{MEMBERS}}}[5m])",
                            "rx {{container_label_io_aurigraph_container}}",
                        ),
                        (
                            f"rate(container_network_transmit_bytes_total{{{MEMBERS}}}[5m])",
                            "tx {{container_label_io_aurigraph_container}}",
                        ),
                    ),
                    "Bps",
                ),
                P("Node process CPU", ((f"process_cpu_usage{{{NODES}}}", "{{node}}"),), "percentunit"),
                P("Host load", (('node_load1{job="node"}', "load1"), ('node_load5{job="node"}', "load5"))),
                P(
                    "PostgreSQL connections",
                    (('sum by (state) (pg_stat_activity_count{job="postgres"})', "{{state}}"),),
                ),
                P("Redis memory", (('redis_memory_used_bytes{job="redis"}', "used"),), "bytes"),
            ],
        ),
        "leveldb-health.json": _dashboard(
            "aurigraph-leveldb",
            "Aurigraph LevelDB Health",
            [
                P("Cache hit ratio", ((f"leveldb_cache_hit_ratio{{{NODES}}}", "{{node}}"),), "percentunit"),
                P(
                    "Lowest cache hit ratio",
                    ((f"min(leveldb_cache_hit_ratio{{{NODES}}})", "min"),),
                    "percentunit",
                    "stat",
                ),
                P(
                    "Data written per container",
                    (
                        (
                            f"rate(container_fs_writes_bytes_total{{{MEMBERS}}}[5m])",
                            "{{container_label_io_aurigraph_container}}",
                        ),
                    ),
                    "Bps",
                ),
                P("Node memory", ((f"sum by (node) (jvm_memory_used_bytes{{{NODES}}})", "{{node}}"),), "bytes"),
            ],
        ),
    }


def render_dashboards() -> dict[str, str]:
    return {name: json.dumps(model, indent=2, sort_keys=True) + "\n" for name, model in dashboards().items()}
