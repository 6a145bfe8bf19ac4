"""The stack config as typed models: each key's type, default, bounds and description, once.

Pulumi.yaml's config declarations and the README's config reference are generated from these
models (`python -m tools.configdoc --write`; a test fails when either is out of date). Values
arrive as the Pulumi CLI hands them over; model/settings.py validates them against these
models and adds the checks that span keys (presets, quorum, placeholders, secrets, clouds).

Field names are snake_case; the config keys are their camelCase aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from .clouds import CLOUDS
from .kube import DNS_LABEL, DNS_SUBDOMAIN, LabelKey, Labels, Tolerations
from .services import PUBLISHED, SERVICES
from .types import (
    EMAIL,
    USER,
    Bool,
    Choice,
    Cidrs,
    Cpus,
    Duration,
    Host,
    Image,
    Int,
    IpAddress,
    LoginUser,
    Number,
    OneOf,
    RoutingKey,
    Secret,
    SecretUrl,
    SlackUrl,
    Smarthost,
    SshHostKey,
    SshOpts,
    SshPublicKey,
    Text,
    Zone,
    valid_ms,
)

GROUP_NAMES = ("validator", "business", "slim")
DENSITIES = ("option-b", "option-c", "custom")
# Where the cluster runs: the Docker targets (an existing Docker host, then every registered cloud;
# components/hosts/<target>.py builds each), and a Kubernetes cluster (components/kube).
DOCKER_TARGETS = ("local", "ssh", *CLOUDS)
TARGETS = (*DOCKER_TARGETS, "kubernetes")
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_CONTAINERS_PER_GROUP = 500
MAX_NODES_PER_GROUP = 26 * MAX_CONTAINERS_PER_GROUP
REDIS_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


@dataclass(frozen=True)
class GroupPreset:
    containers: int
    nodes: int
    cpus: float
    memory_mb: int


# The spec's per-container resources, the same for both options.
_VALIDATOR: dict[str, Any] = dict(cpus=12.0, memory_mb=384)
_BUSINESS: dict[str, Any] = dict(cpus=11.0, memory_mb=320)
_SLIM: dict[str, Any] = dict(cpus=6.0, memory_mb=192)

PRESETS: dict[str, dict[str, GroupPreset]] = {
    "option-b": {
        "validator": GroupPreset(containers=4, nodes=20, **_VALIDATOR),
        "business": GroupPreset(containers=4, nodes=16, **_BUSINESS),
        "slim": GroupPreset(containers=6, nodes=15, **_SLIM),
    },
    "option-c": {
        "validator": GroupPreset(containers=5, nodes=25, **_VALIDATOR),
        "business": GroupPreset(containers=5, nodes=20, **_BUSINESS),
        "slim": GroupPreset(containers=8, nodes=20, **_SLIM),
    },
}

# Option B's values are the spec's; option C "tunes harder" and the spec gives no numbers, so
# these are ours: more threads and bigger batches for more nodes, a tighter consensus timeout
# and heartbeat for the lower latency target, a smaller cache for the lower memory per node.
TUNING_PRESETS: dict[str, dict[str, int]] = {
    "option-b": dict(
        thread_pool_size=512, batch_size=100_000, leveldb_cache_mb=200, consensus_timeout_ms=120, heartbeat_ms=40
    ),
    "option-c": dict(
        thread_pool_size=768, batch_size=150_000, leveldb_cache_mb=128, consensus_timeout_ms=100, heartbeat_ms=30
    ),
}


def _per_density(values: dict[str, Any]) -> str:
    """'512 (option-c 768)': a default that differs by density."""
    b, c = values["option-b"], values["option-c"]
    return f"{b:g}" if b == c else f"{b:g} (option-c {c:g})"


def _tuned(name: str, description: str) -> Any:
    return unset(_per_density({d: TUNING_PRESETS[d][name] for d in TUNING_PRESETS}), description)


def extra(field: FieldInfo) -> dict[str, Any]:
    """A field's json_schema_extra (`shown`, `secret`), {} when it has none."""
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def unset(shown: str, description: str, **extra: Any) -> Any:
    """A key with no default value of its own: `shown` says what applies instead."""
    return Field(None, description=description, json_schema_extra={"shown": shown, **extra})


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)
    # Said after "missing; " when a required key of this object is absent.
    missing_hint: ClassVar[str] = "required"

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """A key set to null (YAML `~`, JSON null) is as if it were not set: its default, or
        "missing" where it has none. Never None flowing on into a rendered file or a resource."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class CanaryConfig(ConfigModel):
    """A canary: run `image` on the group's first `containers` containers; the rest keep the group's image."""

    image: Image = Field(description="the image to try")
    containers: Int(1, MAX_CONTAINERS_PER_GROUP) = Field(
        1, description="how many containers run it; fewer than the group has"
    )
    missing_hint: ClassVar[str] = "a canary needs the image to try"


class GroupConfig(ConfigModel):
    """One node group's overrides of the density preset."""

    containers: Int(1, MAX_CONTAINERS_PER_GROUP) = unset("density preset", "containers in the group")
    nodes: Int(1, MAX_NODES_PER_GROUP) = unset(
        "density preset",
        "logical nodes, spread evenly over the containers (remainder on the first), at most 26 per container",
    )
    cpus: Cpus(0.01, 512) = unset(
        " / ".join(f"{p.cpus:g}" for p in PRESETS["option-b"].values()),
        "CPU limit per container (validator / business / slim)",
    )
    memory_mb: Int(64, 1_048_576) = unset(
        " / ".join(str(p.memory_mb) for p in PRESETS["option-b"].values()),
        "memory limit per container, MB (validator / business / slim)",
    )
    image: Image = unset("`image`", "the group's node image")
    leveldb_cache_mb: Int(1, 1_048_576) = unset(
        "validator: `tuning.leveldbCacheMb`; business, slim: the smaller of it and 160 / 96",
        "LevelDB cache per container, MB; at most 60% of the container's memory",
    )
    max_unavailable: Int(1, MAX_CONTAINERS_PER_GROUP) = unset(
        "derived",
        "containers replaced at once in a rollout; derived from the BFT fault budget for "
        "validators and half the nodes for the others",
    )
    allow_quorum_risk: Bool = Field(
        False, description="validators only: accept a layout whose rollout can take down more than the fault budget"
    )
    canary: CanaryConfig | None = unset("none", "run another image on the group's first containers only")


class GroupsConfig(ConfigModel):
    """Per-group overrides, keyed by validator, business and slim."""

    validator: GroupConfig = Field(default_factory=GroupConfig)
    business: GroupConfig = Field(default_factory=GroupConfig)
    slim: GroupConfig = Field(default_factory=GroupConfig)


class TuningConfig(ConfigModel):
    """Node tuning; every default comes from the density preset."""

    thread_pool_size: Int(1, 65_536) = _tuned("thread_pool_size", "worker threads per node")
    batch_size: Int(1, 10_000_000) = _tuned("batch_size", "transactions per batch")
    leveldb_cache_mb: Int(1, 1_048_576) = _tuned(
        "leveldb_cache_mb", "LevelDB cache per validator container, MB (see groups.<group>.leveldbCacheMb)"
    )
    consensus_timeout_ms: Int(10, 600_000) = _tuned("consensus_timeout_ms", "consensus election timeout, ms")
    heartbeat_ms: Int(1, 300_000) = _tuned("heartbeat_ms", "leader heartbeat, ms; at most half the timeout")

    def as_env(self) -> dict[str, str]:
        """The env every node container shares; the LevelDB cache is each group's own (Group.env)."""
        # Strings, always: the spec's "YAML boolean" failure came from a non-string env value.
        return {f"AURIGRAPH_{name.upper()}": str(value) for name, value in self if name != "leveldb_cache_mb"}


class MonitoringConfig(ConfigModel):
    """Prometheus settings."""

    scrape_interval: Duration("1s", "5m") = Field("30s", description="how often every target is scraped")
    evaluation_interval: Duration("1s", "5m") = Field("30s", description="how often alert rules are evaluated")
    retention: Duration("1h", "10y") = Field("15d", description="how long metrics are kept")


class CacheConfig(ConfigModel):
    """Redis settings."""

    max_memory_mb: Int(16, 262_144) = Field(256, description="Redis maxmemory, MB")
    max_memory_policy: Choice(*REDIS_POLICIES) = Field("allkeys-lru", description="Redis maxmemory-policy")


def _from_registry(name: str, doc: str, fields: dict[str, Any]) -> type[ConfigModel]:
    model = create_model(name, __base__=ConfigModel, **fields)
    model.__doc__ = doc
    return model


def _users_of(image_key: str) -> str:
    return " and ".join(s.name for s in SERVICES if s.image_key == image_key)


# Derived from the service registry: one key per published port and per service image.
PortsConfig: type[ConfigModel] = _from_registry(
    "PortsConfig",
    "Host ports of the published services; two services on one port is an error.",
    {
        p.key: (
            Int(1, 65535),
            Field(
                p.default, alias=p.key, description=f"{p.description} ({'admin' if p.admin else 'API'} bind address)"
            ),
        )
        for p in PUBLISHED
    },
)
ServiceImagesConfig: type[ConfigModel] = _from_registry(
    "ServiceImagesConfig",
    "Overrides of the pinned service images (for a private registry mirror), each pinned to a tag or digest.",
    {
        s.image_key: (Image, Field(s.image, alias=s.image_key, description=f"the {_users_of(s.image_key)} image"))
        for s in SERVICES
    },
)


class AlertingConfig(ConfigModel):
    """Alertmanager's routing: critical alerts reach every configured receiver, warnings all but
    PagerDuty, info none. Receivers are configured by their secrets (alertWebhookUrl,
    alertSlackWebhookUrl, alertPagerdutyRoutingKey) and by emailTo."""

    group_wait: Duration("1s", "1h") = Field("30s", description="how long a new alert group waits for more alerts")
    group_interval: Duration("1s", "1d") = Field("5m", description="how often a group with changes is sent again")
    repeat_interval: Duration("1m", "30d") = Field(
        "4h", description="how often an unchanged firing group is sent again"
    )
    slack_channel: Text(r"[#@]?[a-z0-9._-]{1,80}", "a Slack channel such as #aurigraph-alerts") = unset(
        "the webhook's", "Slack channel (with alertSlackWebhookUrl)"
    )
    email_to: Text(EMAIL, "an email address such as ops@example.com") = unset("none", "email receiver's address")
    email_from: Text(EMAIL, "an email address such as alerts@example.com") = unset("none", "sender (with emailTo)")
    smtp_smarthost: Smarthost = unset("none", "SMTP server (with emailTo); STARTTLS required")
    smtp_username: Text(r"[!-~]{1,128}", "an SMTP user name") = unset("none", "SMTP user (with alertSmtpPassword)")


# Snapshot intervals every cloud's scheduler accepts (AWS DLM, a GCP hourly schedule, Azure Disk Backup).
SNAPSHOT_HOURS = (1, 2, 4, 6, 8, 12, 24)


class BackupConfig(ConfigModel):
    """PostgreSQL backups (a pg_dump container beside the database) and, on clouds, the data disk's
    scheduled snapshots. See the README's "Backup and restore runbook"."""

    enabled: Bool = Field(True, description="run the backup container")
    interval: Duration("5m", "7d") = Field("6h", description="how often a backup is taken (and one at every start)")
    keep: Int(1, 1000) = Field(28, description="verified backups kept on the backup volume; older ones are removed")
    verify: Choice("restore", "list") = Field(
        "restore",
        description="how each backup is verified before it counts: "
        "restore (into a scratch database) or list "
        "(pg_restore --list)",
    )
    max_age: Duration("10m", "30d") = unset(
        "2 × interval + 1h", "alert when the last verified backup is older; more than interval"
    )
    bucket: Bool = unset(
        "false",
        "target aws only: also copy each backup to an S3 bucket this program creates (private, versioned, expiring)",
    )
    bucket_retention_days: Int(1, 3650) = Field(30, description="with bucket: days a copy is kept in the bucket")
    snapshot_every_hours: OneOf(*SNAPSHOT_HOURS) = Field(
        24, description="targets aws, azure and gcp: hours between snapshots of the VM's data disk"
    )
    snapshot_retention_days: Int(1, 365) = Field(
        7, description="targets aws, azure and gcp: days a disk snapshot is kept"
    )

    @property
    def interval_seconds(self) -> int:
        return valid_ms(self.interval) // 1000

    @property
    def max_age_seconds(self) -> int:
        """When the newest verified backup counts as too old (the alert's threshold)."""
        return valid_ms(self.max_age) // 1000 if self.max_age else 2 * self.interval_seconds + 3600


class SshConfig(ConfigModel):
    """target ssh: the existing server and what it has, for the capacity plan."""

    host: Host = Field(description="host name or address")
    user: Text(USER, "a user name such as subbu") = Field(description="login user, in the docker group")
    port: Int(1, 65535) = Field(22, description="SSH port")
    ssh_opts: SshOpts = Field(
        ("-o", "ServerAliveInterval=30"), description="ssh options (-o Name=value; a listed set of names)"
    )
    host_key: SshHostKey = unset(
        "your known_hosts",
        "the server's SSH host key line (ssh-keyscan, checked against "
        "its fingerprint); pinned: no other key is accepted",
    )
    cpus: Number(1, 4096) = Field(description="the server's CPUs")
    memory_mb: Int(1024, 67_108_864) = Field(description="the server's memory, MB")
    missing_hint: ClassVar[str] = (
        "target ssh needs host, user, and the host's cpus and memoryMb (for the capacity plan)"
    )


class VmConfig(ConfigModel):
    """target aws, azure or gcp: the VM this program creates."""

    region: Text(r".{1,64}", "a cloud region such as eu-west-1") = Field(description="the cloud region")
    zone: Zone = unset("none", "zone (required on gcp; optional on aws and azure)")
    project: Text(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a GCP project id such as aurigraph-prod") = unset(
        "none", "gcp only: the project id (must match gcp:project)"
    )
    image: Text(r"[A-Za-z0-9_./:-]{1,255}", "an image id such as ami-0123456789abcdef0") = unset(
        "looked up once",
        "the base image: an AMI id (aws), an image name or link (gcp), a Debian 12 image version "
        "(azure); unset, the newest Debian 12 when the VM is created, kept until you set this",
    )
    size: Text(r"[A-Za-z0-9_.-]{1,64}", "a machine type such as m6i.12xlarge") = unset(
        "chosen",
        "machine type; when unset, the smallest in the cloud's catalog (model/clouds/) that fits the capacity plan",
    )
    cpus: Int(2, 4096) = unset("catalog", "with a size outside the catalog: its vCPUs")
    memory_mb: Int(4096, 67_108_864) = unset("catalog", "with a size outside the catalog: its memory, MB")
    ssh_user: LoginUser = Field("aurigraph", description="the login user created")
    ssh_public_key: SshPublicKey = Field(description="your public key line (the .pub file)")
    admin_cidrs: Cidrs(allow_world=False) = Field(
        description="who may reach SSH and the admin ports; never the whole internet"
    )
    api_cidrs: Cidrs(allow_world=True) = unset("`vm.adminCidrs`", 'who may call the API; ["0.0.0.0/0"] makes it public')
    data_disk_gb: Int(20, 65536) = Field(200, description="the data disk for Docker's volumes, GB")
    missing_hint: ClassVar[str] = "a VM needs vm.region, vm.sshPublicKey and vm.adminCidrs"


class KubernetesConfig(ConfigModel):
    """target kubernetes: where in the cluster (the provider's kubernetes:kubeconfig and
    kubernetes:context, else KUBECONFIG) the pods go, and how they are spread."""

    namespace: Text(DNS_LABEL, "a namespace name such as aurigraph", 63) = Field(
        "aurigraph", description="the namespace this program creates (restricted Pod Security Standard)"
    )
    storage_class: Text(DNS_SUBDOMAIN, "a storage class such as gp3", 253) = unset(
        "the cluster's default", "the storage class of every data claim"
    )
    data_gb: Int(1, 65536) = Field(20, description="size of each data claim (one per node container and service), GB")
    zone_key: LabelKey = Field(ZONE_LABEL, description="the node label that names a node's zone")
    zones: Int(1, 64) = Field(
        3,
        description="zones the validators spread over: a validator pod waits (Pending) rather than crowd into "
        "fewer; the plan's worst zone loss assumes this many",
    )
    node_selector: Labels = Field({}, description="labels every pod's node must have")
    tolerations: Tolerations = Field((), description="taints every pod tolerates, as key[=value][:Effect]")
    api_service_type: Choice("ClusterIP", "LoadBalancer") = Field(
        "ClusterIP", description="the API Service's type; the admin UIs are always ClusterIP (kubectl port-forward)"
    )
    api_cidrs: Cidrs(allow_world=False, guards="the validators' API is") = unset(
        "none",
        "with apiServiceType LoadBalancer (required): who may call the API (loadBalancerSourceRanges); "
        "never the whole internet",
    )


class CapacityConfig(ConfigModel):
    """Summed container limits against the host's capacity; above these ratios is a config error."""

    cpu_overcommit: Number(0.1, 100) = Field(3.0, description="summed CPU limits / host CPUs")
    memory_overcommit: Number(0.1, 10) = Field(1.0, description="summed memory limits / host memory")


# Pydantic validates against the registry-built models; a type checker, which cannot see a model
# built at run time, knows them as the ConfigModel they are built on.
if TYPE_CHECKING:
    _Ports = ConfigModel
    _Images = ConfigModel
else:
    _Ports, _Images = PortsConfig, ServiceImagesConfig


class StackConfig(ConfigModel):
    """Every key in the `aurigraph-cluster:` namespace."""

    target: Choice(*TARGETS) = Field(
        "local",
        description="Where the cluster runs: local (the Docker daemon at DOCKER_HOST, else the local "
        "socket), ssh (an existing server, see ssh), aws, azure, gcp (a VM this program "
        "creates, see vm), or kubernetes (a cluster, see kubernetes).",
    )
    density: Choice(*DENSITIES) = Field(
        description="Node layout preset: option-b (51 nodes: 20 validator, 16 business, 15 slim), option-c (65 "
        "nodes: 25, 20, 20) or custom (every group's containers and nodes set under groups). Required: "
        "every stack names its density."
    )
    image: Image = Field(
        "aurigraph/v11-native:11.0.0",
        description="Default node image for every group, pinned to a version tag or digest (':latest' is refused).",
    )
    pull_image: Bool = Field(
        False,
        description="Pull node images from their registry. Off by default: the node "
        "image may exist only on the Docker host.",
    )
    protect_data: Bool = Field(
        False,
        description="Also protect the data volumes (they are always retained on delete). On for production stacks.",
    )
    admin_bind_address: IpAddress = Field(
        "127.0.0.1",
        description="Host address the admin UIs are published on. Loopback by default; reach them over an SSH tunnel.",
    )
    api_bind_address: IpAddress = Field(
        "0.0.0.0", description="Host address the node API frontend (HAProxy) is published on."
    )
    groups: GroupsConfig = Field(default_factory=GroupsConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    ports: _Ports = Field(default_factory=PortsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    service_images: _Images = Field(default_factory=ServiceImagesConfig)
    ssh: SshConfig | None = unset("none", "target ssh only: the existing server")
    vm: VmConfig | None = unset("none", "targets aws, azure and gcp only: the VM this program creates")
    kubernetes: KubernetesConfig | None = unset("defaults", "target kubernetes only: namespace, storage and zones")
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    # Optional secrets, set with `pulumi config set --secret`, else generated. Not declared in
    # Pulumi.yaml, where a key without a default is one the CLI demands.
    db_password: Secret = unset("generated", "secret: the application's PostgreSQL password", secret=True)
    redis_password: Secret = unset("generated", "secret: the Redis password", secret=True)
    grafana_admin_password: Secret = unset("generated", "secret: Grafana's admin password", secret=True)
    alert_webhook_url: SecretUrl = unset("none", "secret: a generic webhook receiver's URL", secret=True)
    alert_slack_webhook_url: SlackUrl = unset("none", "secret: a Slack incoming webhook URL", secret=True)
    alert_pagerduty_routing_key: RoutingKey = unset("none", "secret: a PagerDuty Events v2 routing key", secret=True)
    alert_smtp_password: Secret = unset("none", "secret: the SMTP password (with alerting.smtpUsername)", secret=True)


# Objects reach the program JSON-encoded; these keys are decoded before validation.
OBJECT_KEYS = (
    "groups",
    "tuning",
    "ports",
    "monitoring",
    "cache",
    "serviceImages",
    "ssh",
    "vm",
    "kubernetes",
    "capacity",
    "alerting",
    "backup",
)
SECRET_KEYS = tuple(str(f.alias) for f in StackConfig.model_fields.values() if extra(f).get("secret"))
TOP_LEVEL_KEYS = tuple(f.alias for f in StackConfig.model_fields.values() if f.alias not in SECRET_KEYS)


def model_at(path: tuple[Any, ...], model: type[BaseModel] = StackConfig) -> type[BaseModel] | None:
    """The model a config path points into (('groups', 'validator') -> GroupConfig), or None."""
    for part in path:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        inner = model_of(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias or name for name, f in model.model_fields.items())
