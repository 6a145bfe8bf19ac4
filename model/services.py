"""The registry of infrastructure services: one ServiceSpec per container beside the nodes.

Every other table is derived from it: the pinned images (`serviceImages`), the published ports
(`ports`), the CPU and memory limits (the capacity plan), the Prometheus scrape targets, the
containers' healthchecks, the VM firewall, the stack's `endpoints` output and the policy pack's
list of admin UIs. A port number of a service is written here and nowhere else.

Standard library only: the policy pack imports this module in its own virtualenv.

Adding a service (say Loki): a ServiceSpec below, a renderer in render/ if it reads a config
file, and a component in components/ that runs it with `containers.service_container`.
"""

from __future__ import annotations

from dataclasses import dataclass

# The application database and its owner; PostgreSQL's healthcheck connects to it.
DATABASE = "aurigraph"


@dataclass(frozen=True)
class Published:
    """A container port published on the host, under `ports.<key>`."""

    key: str  # the config key under `ports` and the `endpoints` output
    port: int  # inside the container
    default: int  # host port unless configured
    admin: bool  # True: an admin UI, on adminBindAddress; False: on apiBindAddress
    path: str = ""  # appended to the endpoint URL
    description: str = ""


@dataclass(frozen=True)
class Metrics:
    """What Prometheus scrapes from this service."""

    job: str
    port: int
    prefixes: tuple[str, ...]  # the metric families it contributes (ties dashboards to jobs)
    path: str = "/metrics"


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # container hostname and DNS alias on the cluster network; `<stack>-<name>` in Docker
    image_key: str  # the key under `serviceImages`
    image: str  # pinned
    port: int  # where the cluster network reaches it; 0: it listens on nothing
    health: str  # the container's healthcheck command (CMD-SHELL)
    cpus: float
    memory_mb: int  # the limit; for Redis, what it needs above cache.maxMemoryMb
    published: tuple[Published, ...] = ()
    metrics: Metrics | None = None
    data_path: str | None = None  # where its retained volume is mounted
    memory_follows_cache: bool = False  # Redis: limit = cache.maxMemoryMb + memory_mb
    # Linux capabilities it keeps; every other is dropped.
    capabilities: tuple[str, ...] = ()
    # Deployed only when this feature is on (see `deployed`); None: always.
    feature: str | None = None

    @property
    def address(self) -> str:
        return f"{self.name}:{self.port}"

    def url(self, published_key: str = "") -> str:
        """Its URL on the cluster network: at its main port, or at the port published as `published_key`."""
        port = next(p.port for p in self.published if p.key == published_key) if published_key else self.port
        return f"http://{self.name}:{port}"

    def memory_limit(self, cache_max_memory_mb: int) -> int:
        return self.memory_mb + (cache_max_memory_mb if self.memory_follows_cache else 0)


def http_check(port: int, path: str) -> str:
    return f"wget -q -O /dev/null http://127.0.0.1:{port}{path}"


# Capabilities: the PostgreSQL and Redis entrypoints chown their data directory and drop to
# their own user (gosu); cAdvisor reads root-only state; the rest run as non-root users.
# In the order Prometheus scrapes them (the rendered prometheus.yml follows this order).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "prometheus",
        "prometheus",
        "prom/prometheus:v2.48.0",
        9090,
        http_check(9090, "/-/ready"),
        1.0,
        1024,
        published=(Published("prometheus", 9090, 9090, admin=True, description="Prometheus UI"),),
        metrics=Metrics("prometheus", 9090, ("prometheus_",)),
        data_path="/prometheus",
    ),
    ServiceSpec(
        "postgres-exporter",
        "postgresExporter",
        "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
        9187,
        http_check(9187, "/metrics"),
        0.25,
        128,
        metrics=Metrics("postgres", 9187, ("pg_",)),
    ),
    ServiceSpec(
        "redis-exporter",
        "redisExporter",
        "oliver006/redis_exporter:v1.55.0-alpine",
        9121,
        http_check(9121, "/health"),
        0.25,
        128,
        metrics=Metrics("redis", 9121, ("redis_",)),
    ),
    ServiceSpec(
        "cadvisor",
        "cadvisor",
        "gcr.io/cadvisor/cadvisor:v0.47.2",
        8080,
        http_check(8080, "/healthz"),
        0.5,
        256,
        metrics=Metrics("cadvisor", 8080, ("container_", "machine_")),
        capabilities=("DAC_READ_SEARCH",),
    ),  # reads root-only paths under /var/lib/docker and /rootfs
    ServiceSpec(
        "node-exporter",
        "nodeExporter",
        "prom/node-exporter:v1.7.0",
        9100,
        http_check(9100, "/metrics"),
        0.25,
        64,
        metrics=Metrics("node", 9100, ("node_",)),
    ),
    # The image has bash but no curl: a TCP connect to the stats listener.
    ServiceSpec(
        "haproxy",
        "haproxy",
        "haproxy:2.6.12",
        8080,
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/8404'",
        1.0,
        256,
        published=(
            Published("api", 8080, 8080, admin=False, path="/api/v11", description="the node API frontend"),
            Published("haproxyStats", 8404, 8404, admin=True, description="HAProxy stats page"),
        ),
        metrics=Metrics("haproxy", 8404, ("haproxy_",)),
    ),
    # 16686: the UI; 14269: health and metrics; 4317: OTLP over gRPC from the nodes.
    ServiceSpec(
        "jaeger",
        "jaeger",
        "jaegertracing/all-in-one:1.52.0",
        4317,
        http_check(14269, "/"),
        0.5,
        512,
        published=(Published("jaeger", 16686, 16686, admin=True, description="Jaeger UI"),),
        metrics=Metrics("jaeger", 14269, ("jaeger_",)),
    ),
    ServiceSpec(
        "postgres",
        "postgres",
        "postgres:16.2",
        5432,
        f"pg_isready -q -h 127.0.0.1 -U postgres -d {DATABASE}",
        2.0,
        1024,
        data_path="/var/lib/postgresql/data",
        capabilities=("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"),
    ),
    # No `memory_mb` of its own: Redis itself, client buffers and the AOF rewrite above maxmemory.
    ServiceSpec(
        "redis",
        "redis",
        "redis:7.0.15",
        6379,
        "redis-cli ping | grep -q PONG",
        1.0,
        128,
        data_path="/data",
        memory_follows_cache=True,
        capabilities=("CHOWN", "SETGID", "SETUID"),
    ),
    ServiceSpec(
        "grafana",
        "grafana",
        "grafana/grafana:10.2.3",
        3000,
        http_check(3000, "/api/health"),
        0.5,
        256,
        published=(Published("grafana", 3000, 3000, admin=True, description="Grafana"),),
        data_path="/var/lib/grafana",
    ),
    ServiceSpec(
        "alertmanager",
        "alertmanager",
        "prom/alertmanager:v0.25.0",
        9093,
        http_check(9093, "/-/ready"),
        0.25,
        128,
        published=(Published("alertmanager", 9093, 9093, admin=True, description="Alertmanager UI"),),
        metrics=Metrics("alertmanager", 9093, ("alertmanager_",)),
        data_path="/alertmanager",
    ),
    # pg_dump on an interval (render/backup.py). The database's own image: pg_dump must be at least
    # the server's version. Healthy once it has written its status (the metrics node-exporter reads).
    ServiceSpec(
        "postgres-backup",
        "postgres",
        "postgres:16.2",
        0,
        "test -s /status/aurigraph_backup.prom",
        0.5,
        256,
        data_path="/backups",
        feature="backup",
    ),
    # Copies the verified backups to the stack's S3 bucket (target aws, backup.bucket).
    ServiceSpec(
        "backup-uploader",
        "awsCli",
        "amazon/aws-cli:2.15.0",
        0,
        "test -s /status/aurigraph_backup_upload.prom",
        0.25,
        256,
        feature="backup-bucket",
    ),
)

BY_NAME: dict[str, ServiceSpec] = {s.name: s for s in SERVICES}
# The config keys under `ports` (and the `endpoints` output), in registry order.
PUBLISHED: tuple[Published, ...] = tuple(p for s in SERVICES for p in s.published)
PUBLISHED_BY_KEY: dict[str, Published] = {p.key: p for p in PUBLISHED}
DEFAULT_PORTS: dict[str, int] = {p.key: p.default for p in PUBLISHED}
# An image key shared by two services (the database and its backups) names one image.
SERVICE_IMAGES: dict[str, str] = {s.image_key: s.image for s in SERVICES}
ADMIN_PORTS: tuple[int, ...] = tuple(p.port for p in PUBLISHED if p.admin)


def service(name: str) -> ServiceSpec:
    return BY_NAME[name]


def deployed(features: frozenset[str]) -> tuple[ServiceSpec, ...]:
    """The services a stack runs, given its features on (see Settings.features)."""
    return tuple(s for s in SERVICES if s.feature is None or s.feature in features)


def scrape_targets() -> list[ServiceSpec]:
    return [s for s in SERVICES if s.metrics is not None]
