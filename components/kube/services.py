"""The services beside the nodes, as Kubernetes workloads: the same images, rendered files and
env as the Docker components (components/*.py), with every password in a Secret.

One function per service returns its `Workload`; the cluster component runs them. What differs
from Docker, and why:
- cAdvisor does not run: on Kubernetes the kubelet serves container metrics, and reading them
  itself needs host paths that the restricted Pod Security Standard forbids.
- node-exporter reads only the backup status (its textfile collector): host metrics need the
  host's namespaces and paths, which restricted forbids; the cluster's own monitoring has them.
- Backups are a CronJob (`backup_job`), not a looping container.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from model.config import AlertingConfig, BackupConfig, CacheConfig, MonitoringConfig
from model.kube import cron_schedule, on_kubernetes
from model.services import DATABASE, SERVICES, ServiceSpec, service
from model.settings import Secrets
from model.topology import Topology
from render.backup import BACKUP_ROLE, BACKUP_SCRIPT, SCRIPT_PATH
from render.datastores import GRAFANA_START, POSTGRES_START, render_redis_conf
from render.grafana import DASHBOARDS_PATH, render_dashboard_provider, render_dashboards, render_datasources
from render.haproxy import render_haproxy_config
from render.prometheus import render_alert_rules, render_prometheus_config, scrape_targets

from ..alerting import CONFIG_PATH as ALERTMANAGER_CONFIG
from ..alerting import alertmanager_files
from ..cache import CONF_PATH as REDIS_CONF
from ..database import ROLES_SQL
from ..database import START as POSTGRES_ENTRY
from ..exporters import TEXTFILE_DIR
from ..grafana import PROVISIONING
from ..grafana import START as GRAFANA_ENTRY
from ..load_balancer import CONFIG_PATH as HAPROXY_CONFIG
from ..prometheus import CONFIG_PATH as PROMETHEUS_CONFIG
from ..prometheus import RULES_FILE
from . import pods

# The images' own users (their Dockerfiles): postgres and redis 999, grafana 472, haproxy 99;
# the Prometheus, Alertmanager and exporter images run as nobody; jaeger as 10001.
UIDS = {"postgres": 999, "postgres-backup": 999, "redis": 999, "grafana": 472, "haproxy": 99, "jaeger": 10001}
NOBODY = 65534
BACKUP = service("postgres-backup")
STATUS_SUBPATH = "status"


def ports_of(spec: ServiceSpec) -> list[tuple[str, int]]:
    ports = {spec.port: "main"} if spec.port else {}
    for p in spec.published:
        ports[p.port] = p.key.lower()
    if spec.metrics is not None:
        ports.setdefault(spec.metrics.port, "metrics")
    return sorted(((name, port) for port, name in ports.items()), key=lambda np: np[1])


def env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def workload(
    spec: ServiceSpec,
    placement: pods.KubePlacement,
    *,
    files: pods.Files | None = None,
    env: Mapping[str, str] | None = None,
    command: list[str] | None = None,
    args: list[str] | None = None,
    memory_mb: int | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
) -> pods.Workload:
    container: dict[str, Any] = {
        "image": placement.images[spec.image_key],
        "env": env_list(env or {}),
        "ports": [{"name": n, "containerPort": p} for n, p in ports_of(spec)],
        "readinessProbe": pods.exec_probe(spec.health),
        **({"command": command} if command else {}),
        **({"args": args} if args else {}),
    }
    return pods.Workload(
        name=spec.name,
        container=container,
        uid=UIDS.get(spec.name, NOBODY),
        cpus=spec.cpus,
        memory_mb=memory_mb or spec.memory_mb,
        files=files or pods.Files(),
        data_path=spec.data_path,
        ports=ports_of(spec),
        pod_labels={f"{pods.LABEL}/service": spec.name},
        extra_mounts=extra_mounts or [],
    )


def postgres(placement: pods.KubePlacement, superuser: pulumi.Input[str], init_sql, roles_sql) -> pods.Workload:
    spec = service("postgres")
    return workload(
        spec,
        placement,
        command=[POSTGRES_ENTRY],
        env={"POSTGRES_USER": "postgres", "PGDATA": f"{spec.data_path}/pgdata", "AURIGRAPH_ROLES_SQL": ROLES_SQL},
        files=pods.Files(
            plain={POSTGRES_ENTRY: POSTGRES_START},
            secret={"/docker-entrypoint-initdb.d/10-aurigraph.sql": init_sql, ROLES_SQL: roles_sql},
            secret_env={"POSTGRES_PASSWORD": superuser},
            executable=frozenset({POSTGRES_ENTRY}),
        ),
    )


def redis(placement: pods.KubePlacement, cache: CacheConfig, password: pulumi.Output[str]) -> pods.Workload:
    spec = service("redis")
    conf = password.apply(lambda pw: render_redis_conf(pw, cache.max_memory_mb, cache.max_memory_policy))
    return workload(
        spec,
        placement,
        command=["redis-server", REDIS_CONF],
        memory_mb=spec.memory_limit(cache.max_memory_mb),
        files=pods.Files(secret={REDIS_CONF: conf}, secret_env={"REDISCLI_AUTH": password}),
    )


def jaeger(placement: pods.KubePlacement) -> pods.Workload:
    return workload(
        service("jaeger"),
        placement,
        env={"COLLECTOR_OTLP_ENABLED": "true", "SPAN_STORAGE_TYPE": "memory"},
        args=["--memory.max-traces=50000"],
    )


def prometheus(
    placement: pods.KubePlacement, topology: Topology, density: str, monitoring: MonitoringConfig, backup: BackupConfig
) -> pods.Workload:
    spec = service("prometheus")
    m = monitoring
    config = render_prometheus_config(
        topology, m.scrape_interval, m.evaluation_interval, exporters=scrape_targets(on_kubernetes(SERVICES))
    )
    rules = render_alert_rules(density, topology.fault_budget, backup.max_age_seconds if backup.enabled else None)
    return workload(
        spec,
        placement,
        args=[
            f"--config.file={PROMETHEUS_CONFIG}",
            f"--storage.tsdb.path={spec.data_path}",
            f"--storage.tsdb.retention.time={m.retention}",
        ],
        files=pods.Files(plain={PROMETHEUS_CONFIG: config, RULES_FILE: rules}),
    )


def alertmanager(
    placement: pods.KubePlacement,
    alerting: AlertingConfig,
    monitoring: MonitoringConfig,
    secrets: Secrets,
    parent: pulumi.Resource,
) -> pods.Workload:
    spec = service("alertmanager")
    config, secret_files = alertmanager_files(alerting, monitoring, secrets, parent)
    # Always a Secret: the config may carry the webhook's URL, the receivers' files their keys.
    return workload(
        spec,
        placement,
        args=[f"--config.file={ALERTMANAGER_CONFIG}", f"--storage.path={spec.data_path}"],
        files=pods.Files(secret={ALERTMANAGER_CONFIG: config, **secret_files}),
    )


def grafana(placement: pods.KubePlacement, admin_password: pulumi.Output[str]) -> pods.Workload:
    plain: dict[str, pulumi.Input[str]] = {
        GRAFANA_ENTRY: GRAFANA_START,
        f"{PROVISIONING}/datasources/aurigraph.yaml": render_datasources(
            service("prometheus").url(), service("jaeger").url("jaeger")
        ),
        f"{PROVISIONING}/dashboards/aurigraph.yaml": render_dashboard_provider(),
        **{f"{DASHBOARDS_PATH}/{file}": text for file, text in render_dashboards().items()},
    }
    return workload(
        service("grafana"),
        placement,
        command=[GRAFANA_ENTRY],
        env={
            "GF_SECURITY_ADMIN_USER": "admin",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
        },
        files=pods.Files(
            plain=plain,
            secret_env={"GF_SECURITY_ADMIN_PASSWORD": admin_password},
            executable=frozenset({GRAFANA_ENTRY}),
        ),
    )


def haproxy(placement: pods.KubePlacement, topology: Topology) -> pods.Workload:
    return workload(
        service("haproxy"), placement, files=pods.Files(plain={HAPROXY_CONFIG: render_haproxy_config(topology)})
    )


def postgres_exporter(placement: pods.KubePlacement, user: str, password: pulumi.Output[str]) -> pods.Workload:
    return workload(
        service("postgres-exporter"),
        placement,
        env={"DATA_SOURCE_URI": f"{service('postgres').address}/{DATABASE}?sslmode=disable", "DATA_SOURCE_USER": user},
        files=pods.Files(secret_env={"DATA_SOURCE_PASS": password}),
    )


def redis_exporter(placement: pods.KubePlacement, password: pulumi.Output[str]) -> pods.Workload:
    return workload(
        service("redis-exporter"),
        placement,
        env={"REDIS_ADDR": f"redis://{service('redis').address}"},
        files=pods.Files(secret_env={"REDIS_PASSWORD": password}),
    )


def backup_status(placement: pods.KubePlacement) -> pods.Workload:
    """node-exporter with only its textfile collector, on the backups claim's status directory
    (read-only): the backup alerts' metrics, as on Docker."""
    w = workload(
        service("node-exporter"),
        placement,
        args=["--collector.disable-defaults", "--collector.textfile", f"--collector.textfile.directory={TEXTFILE_DIR}"],
        extra_mounts=[
            {"name": "backups", "mountPath": TEXTFILE_DIR, "subPath": STATUS_SUBPATH, "readOnly": True},
        ],
    )
    return replace(
        w,
        gid=UIDS[BACKUP.name],  # reads the status the backup job writes, as its group
        extra_volumes=[{"name": "backups", "persistentVolumeClaim": {"claimName": f"data-{BACKUP.name}"}}],
    )


def backup_job(
    placement: pods.KubePlacement,
    backup: BackupConfig,
    password: pulumi.Output[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.CronJob:
    """`aurigraph-backup once` on backup.interval's schedule: the same verified pg_dump as the
    Docker container's loop, onto the backups claim, with its status beside them. It runs on the
    node of the status exporter (a ReadWriteOnce claim is mounted on one node at a time)."""
    assert BACKUP.data_path is not None
    schedule = cron_schedule(backup.interval_seconds)
    assert schedule is not None  # model/settings.py refuses an interval cron cannot keep
    data = pods.claim(BACKUP.name, placement, parent)
    secret_env = {"PGPASSWORD": password}
    volumes, mounts, env = pods.mounted(
        BACKUP.name,
        placement,
        pods.Files(plain={SCRIPT_PATH: BACKUP_SCRIPT}, secret_env=secret_env, executable=frozenset({SCRIPT_PATH})),
        parent,
    )
    postgres = service("postgres")
    plain_env = {
        "AURIGRAPH_BACKUP_DIR": BACKUP.data_path,
        "AURIGRAPH_BACKUP_STATUS_DIR": "/status",
        "AURIGRAPH_BACKUP_INTERVAL": str(backup.interval_seconds),
        "AURIGRAPH_BACKUP_KEEP": str(backup.keep),
        "AURIGRAPH_BACKUP_VERIFY": backup.verify,
        "PGHOST": postgres.name,
        "PGPORT": str(postgres.port),
        "PGUSER": BACKUP_ROLE,
        "PGDATABASE": DATABASE,
    }
    pod_labels = {**pods.labels(placement, BACKUP.name), f"{pods.LABEL}/service": BACKUP.name}
    status_pod = {"matchLabels": pods.selector(service("node-exporter").name)}
    return k8s.batch.v1.CronJob(
        BACKUP.name,
        metadata={"name": BACKUP.name, "namespace": placement.namespace, "labels": pods.labels(placement, BACKUP.name)},
        spec={
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "restartPolicy": "Never",
                            "securityContext": pods.pod_security(UIDS[BACKUP.name]),
                            "automountServiceAccountToken": False,
                            "enableServiceLinks": False,
                            "affinity": {
                                "podAffinity": {
                                    "requiredDuringSchedulingIgnoredDuringExecution": [
                                        {"labelSelector": status_pod, "topologyKey": "kubernetes.io/hostname"}
                                    ]
                                }
                            },
                            "containers": [
                                {
                                    "name": "main",
                                    "image": placement.images[BACKUP.image_key],
                                    "command": [SCRIPT_PATH, "once"],
                                    "env": env_list(plain_env) + env,
                                    "volumeMounts": [
                                        *mounts,
                                        {"name": "backups", "mountPath": BACKUP.data_path},
                                        {"name": "backups", "mountPath": "/status", "subPath": STATUS_SUBPATH},
                                    ],
                                    "resources": pods.resources(BACKUP.cpus, BACKUP.memory_mb, placement.capacity),
                                    "securityContext": pods.CONTAINER_SECURITY,
                                    "imagePullPolicy": "IfNotPresent",
                                }
                            ],
                            "volumes": [
                                *volumes,
                                {"name": "backups", "persistentVolumeClaim": {"claimName": data.metadata.name}},
                            ],
                            **pods.placement_spec(placement),
                        },
                    },
                }
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
