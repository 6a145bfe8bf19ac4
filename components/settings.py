"""Stack configuration, read once and validated before any resource is registered.

This is the only module that reads Pulumi config. Everything downstream receives the frozen
`Settings` it returns. Every problem found is reported at once, in one `ConfigError` whose
message names the config key, what was expected and what was given. It subclasses
`pulumi.RunError`, so `pulumi up` prints the message and no Python traceback.

Defaults for scalar keys live in Pulumi.yaml (the CLI hands them to the program); the
density presets below are the defaults for the structured keys `groups` and `tuning`.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pulumi

from .catalog import CATALOG, size_of, smallest_fitting
from .render.datastores import REDIS_POLICIES
from .topology import (
    REDIS_CPUS,
    REDIS_OVERHEAD_MB,
    SERVICE_RESOURCES,
    MAX_NODES_PER_CONTAINER,
    bft_fault_budget,
    largest_safe_unavailable,
    spread,
    worst_case_down,
)

PROJECT = "aurigraph-cluster"

GROUP_NAMES = ("validator", "business", "slim")
DENSITIES = ("option-b", "option-c", "custom")
TARGETS = ("local", "ssh", "aws", "azure", "gcp")
CLOUDS = ("aws", "azure", "gcp")

MIN_MEMORY_MB = 64
MAX_CPUS = 512.0
MAX_CONTAINERS_PER_GROUP = 500


@dataclass(frozen=True)
class GroupPreset:
    containers: int
    nodes: int
    cpus: float
    memory_mb: int


# The spec's per-container resources, the same for both options (DESIGN.md, "Facts from the spec").
_VALIDATOR = dict(cpus=12.0, memory_mb=384)
_BUSINESS = dict(cpus=11.0, memory_mb=320)
_SLIM = dict(cpus=6.0, memory_mb=192)

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


@dataclass(frozen=True)
class Tuning:
    thread_pool_size: int
    batch_size: int
    leveldb_cache_mb: int
    consensus_timeout_ms: int
    heartbeat_ms: int

    def as_env(self) -> dict[str, str]:
        # Strings, always: the spec's "YAML boolean" failure came from a non-string env value.
        return {
            "AURIGRAPH_THREAD_POOL_SIZE": str(self.thread_pool_size),
            "AURIGRAPH_BATCH_SIZE": str(self.batch_size),
            "AURIGRAPH_LEVELDB_CACHE_MB": str(self.leveldb_cache_mb),
            "AURIGRAPH_CONSENSUS_TIMEOUT_MS": str(self.consensus_timeout_ms),
            "AURIGRAPH_HEARTBEAT_MS": str(self.heartbeat_ms),
        }


# Option B's values are the spec's; option C "tunes harder" and the spec gives no numbers, so
# these are ours: more threads and bigger batches for more nodes, a tighter consensus timeout
# and heartbeat for the lower latency target, a smaller cache for the lower memory per node.
TUNING_PRESETS: dict[str, Tuning] = {
    "option-b": Tuning(512, 100_000, 200, 120, 40),
    "option-c": Tuning(768, 150_000, 128, 100, 30),
}

TUNING_KEYS: dict[str, str] = {
    "threadPoolSize": "thread_pool_size",
    "batchSize": "batch_size",
    "leveldbCacheMb": "leveldb_cache_mb",
    "consensusTimeoutMs": "consensus_timeout_ms",
    "heartbeatMs": "heartbeat_ms",
}

GROUP_KEYS = ("containers", "nodes", "cpus", "memoryMb", "image", "maxUnavailable", "allowQuorumRisk", "canary")
CANARY_KEYS = ("image", "containers")

# Every top-level key this program understands. Anything else in the project's namespace is
# a typo and an error.
TOP_LEVEL_KEYS = ("target", "density", "image", "pullImage", "protectData", "adminBindAddress", "apiBindAddress",
                  "groups", "tuning", "ports", "monitoring", "cache", "serviceImages", "ssh", "vm", "capacity")
SSH_KEYS = ("host", "user", "port", "sshOpts", "cpus", "memoryMb")
VM_KEYS = ("region", "zone", "project", "size", "cpus", "memoryMb", "sshUser", "sshPublicKey", "adminCidrs",
           "apiCidrs", "dataDiskGb")
CAPACITY_KEYS = ("cpuOvercommit", "memoryOvercommit")
MONITORING_KEYS = ("scrapeInterval", "evaluationInterval", "retention")
CACHE_KEYS = ("maxMemoryMb", "maxMemoryPolicy")
# Stack files for the remote targets ship with values the operator must replace.
PLACEHOLDER = "PLACEHOLDER"
# What the host keeps for itself (OS, dockerd, sshd) before the containers' limits.
HOST_RESERVE_CPUS = 1.0
HOST_RESERVE_MB = 1024
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
_REGION_RE = {
    "aws": re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"),
    "azure": re.compile(r"^[a-z]+[a-z0-9]*$"),
    "gcp": re.compile(r"^[a-z]+-[a-z]+[0-9]$"),
}
_GCP_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")

# Optional secrets: `pulumi config set --secret KEY VALUE`, else generated. Not declared in
# Pulumi.yaml, where a key without a default is one the CLI demands.
SECRET_KEYS = ("dbPassword", "redisPassword", "grafanaAdminPassword")
MIN_SECRET_LENGTH = 12

# Host ports the published services take (DESIGN: nothing else is published).
DEFAULT_PORTS = {"api": 8080, "grafana": 3000, "prometheus": 9090, "jaeger": 16686, "haproxyStats": 8404}

# Images of the services beside the nodes, pinned. PostgreSQL, Redis and HAProxy are pinned to
# the releases the tests run their rendered configs against.
SERVICE_IMAGES = {
    "postgres": "postgres:16.2",
    "redis": "redis:7.0.15",
    "prometheus": "prom/prometheus:v2.48.0",
    "grafana": "grafana/grafana:10.2.3",
    "haproxy": "haproxy:2.6.12",
    "jaeger": "jaegertracing/all-in-one:1.52.0",
    "postgresExporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    "redisExporter": "oliver006/redis_exporter:v1.55.0-alpine",
    "cadvisor": "gcr.io/cadvisor/cadvisor:v0.47.2",
    "nodeExporter": "prom/node-exporter:v1.7.0",
}

_DURATION_RE = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class Monitoring:
    scrape_interval: str = "30s"  # the spec's validator interval, for every target
    evaluation_interval: str = "30s"
    retention: str = "15d"


@dataclass(frozen=True)
class CacheSettings:
    max_memory_mb: int = 256
    max_memory_policy: str = "allkeys-lru"


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str
    port: int
    ssh_opts: tuple[str, ...]
    cpus: float
    memory_mb: int


@dataclass(frozen=True)
class VmTarget:
    cloud: str
    region: str
    zone: Optional[str]
    project: Optional[str]
    size: str
    cpus: int
    memory_mb: int
    size_chosen: bool  # True when picked from the capacity plan rather than given
    ssh_user: str
    ssh_public_key: str
    admin_cidrs: tuple[str, ...]
    api_cidrs: tuple[str, ...]
    data_disk_gb: int


@dataclass(frozen=True)
class CapacityPlan:
    """Summed container limits against the host (when the host is known)."""

    containers: int
    container_cpus: float
    container_memory_mb: int
    largest_container_cpus: float
    cpu_overcommit: float
    memory_overcommit: float
    host_cpus: Optional[float] = None
    host_memory_mb: Optional[int] = None

    def as_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "containers": self.containers,
            "containerCpus": self.container_cpus,
            "containerMemoryMb": self.container_memory_mb,
            "largestContainerCpus": self.largest_container_cpus,
            "cpuOvercommit": self.cpu_overcommit,
            "memoryOvercommit": self.memory_overcommit,
            "hostCpus": self.host_cpus,
            "hostMemoryMb": self.host_memory_mb,
        }
        if self.host_cpus:
            out["cpuRatio"] = round(self.container_cpus / (self.host_cpus - HOST_RESERVE_CPUS), 2)
            out["memoryRatio"] = round(self.container_memory_mb / (self.host_memory_mb - HOST_RESERVE_MB), 2)
        return out


@dataclass(frozen=True)
class Secrets:
    """Configured secrets as Pulumi secret Outputs; None means generate one."""

    db_password: Optional[pulumi.Output[str]] = None
    redis_password: Optional[pulumi.Output[str]] = None
    grafana_admin_password: Optional[pulumi.Output[str]] = None


@dataclass(frozen=True)
class GroupSettings:
    name: str
    containers: int
    nodes: int
    cpus: float
    memory_mb: int
    image: str
    max_unavailable: int
    allow_quorum_risk: bool
    # A canary runs canary_image on the first canary_containers containers; the rest keep image.
    canary_image: Optional[str] = None
    canary_containers: int = 0

    def image_of(self, ordinal: int) -> str:
        return self.canary_image if self.canary_image and ordinal <= self.canary_containers else self.image


@dataclass(frozen=True)
class Settings:
    stack: str
    target: str
    density: str
    groups: tuple[GroupSettings, ...]
    tuning: Tuning
    pull_image: bool
    protect_data: bool
    admin_bind_address: str
    api_bind_address: str = "0.0.0.0"
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    monitoring: Monitoring = Monitoring()
    cache: CacheSettings = CacheSettings()
    service_images: Mapping[str, str] = field(default_factory=lambda: dict(SERVICE_IMAGES))
    secrets: Secrets = Secrets()
    ssh: Optional[SshTarget] = None
    vm: Optional[VmTarget] = None
    capacity: Optional[CapacityPlan] = None
    warnings: tuple[str, ...] = ()

    def group(self, name: str) -> GroupSettings:
        return next(g for g in self.groups if g.name == name)


@dataclass(frozen=True)
class Problem:
    key: str
    message: str


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. One line per stack, naming every offending key."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = tuple(problems)
        detail = "; ".join(f"'{p.key}': {p.message}" for p in problems)
        super().__init__(f"invalid configuration for stack '{stack}' ({PROJECT}): {detail}")


def _show(value: Any) -> str:
    return json.dumps(value)


# Docker image reference: [registry[:port]/]path[:tag][@digest]. Lower-case path components.
_IMAGE_RE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


class _Reader:
    """Converts raw config values, recording a Problem (and returning None) for each bad one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, key: str, expected: str, got: Any) -> None:
        self.problems.append(Problem(key, f"expected {expected}, got {_show(got)}"))

    def refuse(self, key: str, message: str) -> None:
        self.problems.append(Problem(key, message))

    def optional(self, raw: Mapping[str, Any], prefix: str, key: str, default: Any,
                 convert: Callable[..., Any], *limits: Any, **options: Any) -> Any:
        """raw[key] converted (problems reported under `prefix.key`), or `default` when absent."""
        if key not in raw:
            return default
        return convert(f"{prefix}.{key}", raw[key], *limits, **options)

    def integer(self, key: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int | None:
        expected = f"a whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            number = int(value)
        else:
            number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            self.fail(key, expected, value)
            return None
        return number

    def number(self, key: str, value: Any, minimum: float, maximum: float) -> float | None:
        expected = f"a number from {minimum:g} to {maximum:g} with at most two decimals"
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if (
            number is None
            or not math.isfinite(number)
            or not minimum <= number <= maximum
            or round(number, 2) != number
        ):
            self.fail(key, expected, value)
            return None
        return number

    def boolean(self, key: str, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.fail(key, "true or false", value)
        return None

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        self.fail(key, "one of " + ", ".join(choices), value)
        return None

    def image(self, key: str, value: Any) -> str | None:
        match = _IMAGE_RE.match(value) if isinstance(value, str) else None
        if not match:
            self.fail(key, "an image reference such as registry.example.com/aurigraph/v11-native:11.0.0", value)
            return None
        if not match.group("tag") and not match.group("digest"):
            self.fail(key, "an image pinned to a version tag or digest (rollback by revert needs a pin)", value)
            return None
        if match.group("tag") == "latest" and not match.group("digest"):
            self.fail(key, "a pinned version tag or digest, not 'latest' (reverting config could not roll it back)", value)
            return None
        return value

    def placeholder(self, key: str, value: Any) -> bool:
        if isinstance(value, str) and PLACEHOLDER in value or (
                isinstance(value, list) and any(isinstance(v, str) and PLACEHOLDER in v for v in value)):
            path = f"'{key}[0]'" if isinstance(value, list) else key
            self.refuse(key, "still the placeholder from the stack file; set your own value "
                             f"(pulumi config set --path {path} ...)")
            return True
        return False

    def text(self, key: str, value: Any, pattern: re.Pattern, expected: str) -> str | None:
        if isinstance(value, str) and pattern.match(value):
            return value
        self.fail(key, expected, value)
        return None

    def ssh_public_key(self, key: str, value: Any) -> str | None:
        """An OpenSSH public key line whose base64 blob really is a key of the named type."""
        if isinstance(value, str) and "PRIVATE KEY" in value:
            # Not a line of it is repeated: the config (and this message) may be shared.
            self.refuse(key, "this is a private key: remove it from the stack config now and give the public "
                             "key line (the .pub file) instead; treat the private key as exposed")
            return None
        parts = value.split() if isinstance(value, str) else []
        if len(parts) >= 2 and parts[0] in _SSH_KEY_TYPES:
            try:
                blob = base64.b64decode(parts[1], validate=True)
                length = int.from_bytes(blob[:4], "big")
                if blob[4:4 + length].decode() == parts[0]:
                    return " ".join(parts[:3])
            except (ValueError, UnicodeDecodeError):
                pass
        self.fail(key, "an OpenSSH public key line such as 'ssh-ed25519 AAAAC3Nza... you@host' (the .pub file)",
                  value if not isinstance(value, str) or len(value) < 60 else value[:57] + "...")
        return None

    def cidrs(self, key: str, value: Any, allow_world: bool) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value:
            self.fail(key, "a non-empty list of CIDRs such as [\"203.0.113.0/24\"]", value)
            return None
        out = []
        for item in value:
            try:
                network = ipaddress.ip_network(str(item), strict=False)
            except ValueError:
                self.fail(key, "CIDRs such as 203.0.113.0/24", item)
                return None
            if network.prefixlen == 0 and not allow_world:
                self.fail(key, "operator CIDRs, never the whole internet (SSH and admin ports are behind this list)",
                          item)
                return None
            out.append(str(network))
        return tuple(out)

    def duration(self, key: str, value: Any) -> str | None:
        if isinstance(value, str) and _DURATION_RE.match(value):
            return value
        self.fail(key, "a Prometheus duration such as 30s, 5m or 15d", value)
        return None

    def ip_address(self, key: str, value: Any) -> str | None:
        try:
            return str(ipaddress.ip_address(value)) if isinstance(value, str) else self._bad_ip(key, value)
        except ValueError:
            return self._bad_ip(key, value)

    def _bad_ip(self, key: str, value: Any) -> None:
        self.fail(key, "an IPv4 or IPv6 address such as 127.0.0.1", value)
        return None

    def mapping(self, key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        """An object whose keys must all be known; unknown ones are reported with a suggestion."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, "an object with keys " + ", ".join(allowed), value)
            return {}
        for k in value:
            if k not in allowed:
                self.unknown(f"{key}.{k}" if key else k, k, allowed)
        return {k: v for k, v in value.items() if k in allowed}

    def unknown(self, full_key: str, name: str, allowed: tuple[str, ...]) -> None:
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.refuse(full_key, f"unknown key{hint}; known keys here: " + ", ".join(allowed))


def _decode(raw: Mapping[str, Any], key: str) -> Any:
    """Structured values arrive JSON-encoded, as the Pulumi CLI hands them to the program."""
    value = raw.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_settings(raw: Mapping[str, Any], stack: str, secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Validate the project's config values (keys without the `aurigraph-cluster:` prefix).

    `secret_keys`: which of them the CLI marked secret (set with --secret).
    """
    r = _Reader()
    warnings: list[str] = []

    for key in raw:
        if key not in TOP_LEVEL_KEYS and key not in SECRET_KEYS:
            r.unknown(key, key, TOP_LEVEL_KEYS + SECRET_KEYS)

    def required(key: str, convert: Callable[[str, Any], Any]) -> Any:
        if raw.get(key) is None:
            r.refuse(key, "missing; set it in Pulumi.<stack>.yaml or keep its default in Pulumi.yaml")
            return None
        return convert(key, raw[key])

    target = required("target", lambda k, v: r.choice(k, v, TARGETS))
    density = required("density", lambda k, v: r.choice(k, v, DENSITIES))
    default_image = required("image", r.image)
    pull_image = required("pullImage", r.boolean)
    protect_data = required("protectData", r.boolean)
    admin_bind = required("adminBindAddress", r.ip_address)
    api_bind = required("apiBindAddress", r.ip_address)
    ports = _parse_ports(r, r.mapping("ports", _decode(raw, "ports"), tuple(DEFAULT_PORTS)))
    monitoring = _parse_monitoring(r, r.mapping("monitoring", _decode(raw, "monitoring"), MONITORING_KEYS))
    cache = _parse_cache(r, r.mapping("cache", _decode(raw, "cache"), CACHE_KEYS))
    images_raw = r.mapping("serviceImages", _decode(raw, "serviceImages"), tuple(SERVICE_IMAGES))
    service_images = {k: r.optional(images_raw, "serviceImages", k, v, r.image) for k, v in SERVICE_IMAGES.items()}
    secrets = _parse_secrets(r, raw, secret_keys)
    ssh_raw = r.mapping("ssh", _decode(raw, "ssh"), SSH_KEYS)
    vm_raw = r.mapping("vm", _decode(raw, "vm"), VM_KEYS)
    capacity_raw = r.mapping("capacity", _decode(raw, "capacity"), CAPACITY_KEYS)
    if ssh_raw and target != "ssh":
        r.refuse("ssh", f"only used with target: ssh (this stack's target is {target}); remove it")
    if vm_raw and target not in CLOUDS:
        r.refuse("vm", f"only used with target aws, azure or gcp (this stack's target is {target}); remove it")
    cpu_overcommit = r.optional(capacity_raw, "capacity", "cpuOvercommit", 3.0, r.number, 0.1, 100)
    memory_overcommit = r.optional(capacity_raw, "capacity", "memoryOvercommit", 1.0, r.number, 0.1, 10)

    groups_raw = r.mapping("groups", _decode(raw, "groups"), GROUP_NAMES)
    presets = PRESETS.get(density or "")
    groups: list[GroupSettings] = []
    for name in GROUP_NAMES:
        group = _parse_group(r, name, r.mapping(f"groups.{name}", groups_raw.get(name), GROUP_KEYS),
                             presets[name] if presets else None, default_image)
        if group is not None:
            groups.append(group)

    tuning = _parse_tuning(r, r.mapping("tuning", _decode(raw, "tuning"), tuple(TUNING_KEYS)),
                           TUNING_PRESETS.get(density or "", TUNING_PRESETS["option-b"]))

    if len(groups) == len(GROUP_NAMES):
        groups = _resolve_rollout(r, groups, warnings)
        validator = groups[0]
        if tuning is not None and tuning.leveldb_cache_mb >= validator.memory_mb:
            r.fail("tuning.leveldbCacheMb",
                   f"less than the validator container memory (groups.validator.memoryMb = {validator.memory_mb})",
                   tuning.leveldb_cache_mb)

    ssh = _parse_ssh(r, ssh_raw) if target == "ssh" else None
    vm_fields = _parse_vm(r, target, vm_raw) if target in CLOUDS else None

    capacity = vm = None
    if not r.problems:
        capacity = _container_totals(groups, cache, cpu_overcommit, memory_overcommit)
        if ssh is not None:
            capacity = _check_capacity(r, capacity, ssh.cpus, ssh.memory_mb, "ssh.cpus", "ssh.memoryMb")
        elif vm_fields is not None:
            vm = _size_vm(r, target, vm_fields, capacity)
            if vm is not None:
                capacity = _check_capacity(r, capacity, vm.cpus, vm.memory_mb, "vm.size", "vm.size")

    if r.problems:
        raise ConfigError(stack, r.problems)
    return Settings(
        stack=stack,
        target=target,
        density=density,
        groups=tuple(groups),
        tuning=tuning,
        pull_image=pull_image,
        protect_data=protect_data,
        admin_bind_address=admin_bind,
        api_bind_address=api_bind,
        ports=ports,
        monitoring=monitoring,
        cache=cache,
        service_images=service_images,
        secrets=secrets,
        ssh=ssh,
        vm=vm,
        capacity=capacity,
        warnings=tuple(warnings),
    )


def _parse_group(r: _Reader, name: str, raw: dict[str, Any], preset: GroupPreset | None,
                 default_image: str | None) -> GroupSettings | None:
    prefix = f"groups.{name}"
    before = len(r.problems)

    def field(key: str, preset_value: Any, convert: Callable[[str, Any], Any]) -> Any:
        if key in raw:
            return convert(f"{prefix}.{key}", raw[key])
        if preset_value is None:
            r.refuse(f"{prefix}.{key}", "missing; density 'custom' needs containers and nodes for every group")
        return preset_value

    containers = field("containers", preset and preset.containers,
                       lambda k, v: r.integer(k, v, 1, MAX_CONTAINERS_PER_GROUP))
    nodes = field("nodes", preset and preset.nodes, lambda k, v: r.integer(k, v, 1))
    cpus = field("cpus", preset.cpus if preset else PRESETS["option-b"][name].cpus,
                 lambda k, v: r.number(k, v, 0.01, MAX_CPUS))
    memory_mb = field("memoryMb", preset.memory_mb if preset else PRESETS["option-b"][name].memory_mb,
                      lambda k, v: r.integer(k, v, MIN_MEMORY_MB))
    image = field("image", default_image, r.image) if "image" in raw or default_image else None
    allow_risk = r.optional(raw, prefix, "allowQuorumRisk", False, r.boolean)
    if "allowQuorumRisk" in raw and name != "validator":
        r.refuse(f"{prefix}.allowQuorumRisk", "only the validator group has a quorum; remove this key")
    max_unavailable = r.optional(raw, prefix, "maxUnavailable", 0, r.integer, 1)  # 0: derived once the layout is known

    canary_image, canary_containers = None, 0
    if "canary" in raw:
        canary = r.mapping(f"{prefix}.canary", raw["canary"], CANARY_KEYS)
        if "image" not in canary:
            r.refuse(f"{prefix}.canary.image", "missing; a canary needs the image to try")
        else:
            canary_image = r.image(f"{prefix}.canary.image", canary["image"])
        canary_containers = r.optional(canary, f"{prefix}.canary", "containers", 1, r.integer, 1)
        if containers and canary_containers and canary_containers >= containers:
            r.fail(f"{prefix}.canary.containers",
                   f"fewer than groups.{name}.containers ({containers}); for all of them set groups.{name}.image",
                   canary_containers)

    if containers and nodes:
        if containers > nodes:
            r.fail(f"{prefix}.containers", f"at most groups.{name}.nodes ({nodes}) containers, one node each at least",
                   containers)
        elif math.ceil(nodes / containers) > MAX_NODES_PER_CONTAINER:
            r.fail(f"{prefix}.nodes",
                   f"at most {MAX_NODES_PER_CONTAINER} nodes per container ({containers} containers hold "
                   f"{containers * MAX_NODES_PER_CONTAINER} at most)", nodes)
        if max_unavailable and max_unavailable > containers:
            r.fail(f"{prefix}.maxUnavailable", f"at most groups.{name}.containers ({containers})", max_unavailable)
    if len(r.problems) != before:
        return None
    return GroupSettings(name, containers, nodes, cpus, memory_mb, image, max_unavailable, bool(allow_risk),
                         canary_image, canary_containers)


def _resolve_rollout(r: _Reader, groups: list[GroupSettings], warnings: list[str]) -> list[GroupSettings]:
    """Fill in each group's maxUnavailable and refuse layouts that would cost the validators their quorum."""
    resolved = []
    for g in groups:
        sizes = spread(g.nodes, g.containers)
        if g.name == "validator":
            budget = bft_fault_budget(g.nodes)
            reason = f"the BFT fault budget f = floor(({g.nodes} - 1) / 3) = {budget} validator nodes"
        else:
            budget = g.nodes // 2
            reason = f"half of the group's {g.nodes} nodes ({budget}) kept serving"
        max_unavailable = g.max_unavailable or largest_safe_unavailable(sizes, budget)
        down = worst_case_down(sizes, max_unavailable)
        if down > budget:
            key = f"groups.{g.name}.maxUnavailable" if g.max_unavailable else f"groups.{g.name}.containers"
            if g.name == "validator" and not g.allow_quorum_risk:
                r.refuse(key, f"a rollout could take {down} validator nodes down at once, above {reason}; "
                              "spread the validators over more containers, lower maxUnavailable, or set "
                              "groups.validator.allowQuorumRisk: true to accept losing quorum during rollouts")
                continue
            warnings.append(f"{key}: a rollout may take {down} nodes of group '{g.name}' down at once, above {reason}")
        resolved.append(GroupSettings(**{**g.__dict__, "max_unavailable": max_unavailable}))
    return resolved


def _parse_tuning(r: _Reader, raw: dict[str, Any], preset: Tuning) -> Tuning | None:
    before = len(r.problems)
    values = {attr: r.optional(raw, "tuning", key, getattr(preset, attr), r.integer, 1)
              for key, attr in TUNING_KEYS.items()}
    if len(r.problems) != before:
        return None
    tuning = Tuning(**values)
    if tuning.heartbeat_ms * 2 > tuning.consensus_timeout_ms:
        # A follower must see at least two heartbeats per election timeout, or it calls
        # spurious elections (the spec alerts on more than two an hour).
        r.fail("tuning.heartbeatMs", f"at most half of tuning.consensusTimeoutMs ({tuning.consensus_timeout_ms})",
               tuning.heartbeat_ms)
        return None
    return tuning


def _parse_ssh(r: _Reader, raw: dict[str, Any]) -> SshTarget | None:
    before = len(r.problems)
    values: dict[str, Any] = {}
    for key in ("host", "user", "cpus", "memoryMb"):
        if key not in raw:
            r.refuse(f"ssh.{key}", "missing; target ssh needs host, user, and the host's cpus and memoryMb "
                                   "(for the capacity plan)")
        elif not r.placeholder(f"ssh.{key}", raw[key]):
            values[key] = raw[key]
    host = values.get("host")
    if host is not None:
        host = host if isinstance(host, str) and (_HOSTNAME_RE.match(host) or _is_ip(host)) else r.fail(
            "ssh.host", "a host name or IP address such as dlt.example.com", host)
    user = r.text("ssh.user", values["user"], _USER_RE, "a user name such as subbu") if "user" in values else None
    port = r.optional(raw, "ssh", "port", 22, r.integer, 1, 65535)
    opts = raw.get("sshOpts", ["-o", "ServerAliveInterval=30"])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        r.fail("ssh.sshOpts", "a list of ssh options such as [\"-o\", \"StrictHostKeyChecking=yes\"]", opts)
    cpus = r.number("ssh.cpus", values["cpus"], 1, 4096) if "cpus" in values else None
    memory = r.integer("ssh.memoryMb", values["memoryMb"], 1024) if "memoryMb" in values else None
    if len(r.problems) != before:
        return None
    return SshTarget(host, user, port, tuple(opts), cpus, memory)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _parse_vm(r: _Reader, cloud: str, raw: dict[str, Any]) -> dict[str, Any] | None:
    before = len(r.problems)
    required = ["region", "sshPublicKey", "adminCidrs"] + (["zone", "project"] if cloud == "gcp" else [])
    for key in required:
        if key not in raw:
            r.refuse(f"vm.{key}", f"missing; target {cloud} needs " + ", ".join(f"vm.{k}" for k in required))
    raw = {k: v for k, v in raw.items() if not r.placeholder(f"vm.{k}", v)}
    if len(r.problems) != before:
        return None
    region = r.text("vm.region", raw["region"], _REGION_RE[cloud], f"a {cloud} region such as "
                    + {"aws": "eu-west-1", "azure": "westeurope", "gcp": "europe-west1"}[cloud])
    zone = project = None
    if cloud == "gcp":
        zone = r.text("vm.zone", raw["zone"], re.compile(rf"^{re.escape(str(region))}-[a-z]$"),
                      f"a zone of {region} such as {region}-b")
        project = r.text("vm.project", raw["project"], _GCP_PROJECT_RE, "a GCP project id such as aurigraph-prod")
    elif "zone" in raw:
        zone = r.text("vm.zone", raw["zone"], re.compile(r"^[a-z0-9-]+$"), "an availability zone such as eu-west-1a")
    if "project" in raw and cloud != "gcp":
        r.refuse("vm.project", "only used with target gcp; remove it")
    admin = r.cidrs("vm.adminCidrs", raw["adminCidrs"], allow_world=False)
    api = r.optional(raw, "vm", "apiCidrs", admin, r.cidrs, allow_world=True)
    fields = {
        "cloud": cloud, "region": region, "zone": zone, "project": project,
        "size": raw.get("size"),
        "cpus": r.optional(raw, "vm", "cpus", None, r.integer, 2),
        "memory_mb": r.optional(raw, "vm", "memoryMb", None, r.integer, 4096),
        "ssh_user": r.text("vm.sshUser", raw.get("sshUser", "aurigraph"), _USER_RE, "a user name such as aurigraph"),
        "ssh_public_key": r.ssh_public_key("vm.sshPublicKey", raw["sshPublicKey"]),
        "admin_cidrs": admin,
        "api_cidrs": api,
        "data_disk_gb": r.optional(raw, "vm", "dataDiskGb", 200, r.integer, 20, 65536),
    }
    return None if len(r.problems) != before else fields


def _container_totals(groups: list[GroupSettings], cache: CacheSettings, cpu_overcommit: float,
                      memory_overcommit: float) -> CapacityPlan:
    limits = [(g.cpus, g.memory_mb) for g in groups for _ in range(g.containers)]
    limits += list(SERVICE_RESOURCES.values()) + [(REDIS_CPUS, cache.max_memory_mb + REDIS_OVERHEAD_MB)]
    return CapacityPlan(
        containers=len(limits),
        container_cpus=round(sum(c for c, _ in limits), 2),
        container_memory_mb=sum(m for _, m in limits),
        largest_container_cpus=max(c for c, _ in limits),
        cpu_overcommit=cpu_overcommit,
        memory_overcommit=memory_overcommit,
    )


def _fits(plan: CapacityPlan, cpus: float, memory_mb: int) -> bool:
    return (plan.largest_container_cpus <= cpus
            and plan.container_cpus <= (cpus - HOST_RESERVE_CPUS) * plan.cpu_overcommit
            and plan.container_memory_mb <= (memory_mb - HOST_RESERVE_MB) * plan.memory_overcommit)


def _size_vm(r: _Reader, cloud: str, fields: dict[str, Any], plan: CapacityPlan) -> VmTarget | None:
    size, cpus, memory = fields.pop("size"), fields.pop("cpus"), fields.pop("memory_mb")
    if size is None:
        chosen = smallest_fitting(cloud, lambda c, m: _fits(plan, c, m))
        if chosen is None:
            biggest = CATALOG[cloud][-1]
            r.refuse("vm.size", f"no size in the {cloud} catalog fits the plan ({_needs(plan)}); the biggest, "
                                f"{biggest[0]}, has {biggest[1]} CPUs and {biggest[2]} MB: set vm.size, vm.cpus and "
                                "vm.memoryMb for a bigger machine, or raise the capacity.*Overcommit ratios")
            return None
        return VmTarget(size=chosen[0], cpus=chosen[1], memory_mb=chosen[2], size_chosen=True, **fields)
    known = size_of(cloud, size) if isinstance(size, str) else None
    if known is None and (cpus is None or memory is None):
        names = ", ".join(s for s, _, _ in CATALOG[cloud])
        r.fail("vm.size", f"one of {names}, or any {cloud} size with vm.cpus and vm.memoryMb set to what it has",
               size)
        return None
    cpus, memory = (cpus, memory) if cpus is not None and memory is not None else known
    return VmTarget(size=size, cpus=cpus, memory_mb=memory, size_chosen=False, **fields)


def _needs(plan: CapacityPlan) -> str:
    return (f"{plan.containers} containers with {plan.container_cpus:g} CPUs and {plan.container_memory_mb} MB of "
            f"limits, the largest {plan.largest_container_cpus:g} CPUs; cpuOvercommit {plan.cpu_overcommit:g}, "
            f"memoryOvercommit {plan.memory_overcommit:g}; {HOST_RESERVE_CPUS:g} CPU and {HOST_RESERVE_MB} MB kept "
            "for the host")


def _check_capacity(r: _Reader, plan: CapacityPlan, cpus: float, memory_mb: int, cpu_key: str,
                    memory_key: str) -> CapacityPlan:
    plan = CapacityPlan(**{**plan.__dict__, "host_cpus": cpus, "host_memory_mb": memory_mb})
    if plan.largest_container_cpus > cpus:
        r.refuse(cpu_key, f"a container asks for {plan.largest_container_cpus:g} CPUs and the host has {cpus:g}; "
                          "Docker refuses a CPU limit above the host's CPUs")
    elif plan.container_cpus > (cpus - HOST_RESERVE_CPUS) * plan.cpu_overcommit:
        r.refuse(cpu_key, f"the host is too small: {_needs(plan)}; needs "
                          f"{plan.container_cpus / plan.cpu_overcommit + HOST_RESERVE_CPUS:.1f} CPUs, has {cpus:g}")
    if plan.container_memory_mb > (memory_mb - HOST_RESERVE_MB) * plan.memory_overcommit:
        r.refuse(memory_key, f"the host is too small: {_needs(plan)}; needs "
                             f"{plan.container_memory_mb / plan.memory_overcommit + HOST_RESERVE_MB:.0f} MB, "
                             f"has {memory_mb}")
    return plan


def _parse_ports(r: _Reader, raw: dict[str, Any]) -> dict[str, int]:
    ports = {k: r.optional(raw, "ports", k, v, r.integer, 1, 65535) for k, v in DEFAULT_PORTS.items()}
    taken: dict[int, str] = {}
    # Defaults first, so a collision is reported on the key the operator set.
    for key, port in sorted(ports.items(), key=lambda kv: kv[0] in raw):
        if port is None:
            continue
        if port in taken:
            r.fail(f"ports.{key}", f"a host port no other service publishes (ports.{taken[port]} is {port} too)", port)
        taken.setdefault(port, key)
    return ports


def _parse_monitoring(r: _Reader, raw: dict[str, Any]) -> Monitoring:
    d = Monitoring()
    return Monitoring(
        scrape_interval=r.optional(raw, "monitoring", "scrapeInterval", d.scrape_interval, r.duration),
        evaluation_interval=r.optional(raw, "monitoring", "evaluationInterval", d.evaluation_interval, r.duration),
        retention=r.optional(raw, "monitoring", "retention", d.retention, r.duration),
    )


def _parse_cache(r: _Reader, raw: dict[str, Any]) -> CacheSettings:
    d = CacheSettings()
    return CacheSettings(
        max_memory_mb=r.optional(raw, "cache", "maxMemoryMb", d.max_memory_mb, r.integer, 16),
        max_memory_policy=r.optional(raw, "cache", "maxMemoryPolicy", d.max_memory_policy, r.choice, REDIS_POLICIES),
    )


def _parse_secrets(r: _Reader, raw: Mapping[str, Any], secret_keys: frozenset[str]) -> Secrets:
    values: dict[str, pulumi.Output[str]] = {}
    for key, attr in zip(SECRET_KEYS, ("db_password", "redis_password", "grafana_admin_password")):
        if raw.get(key) is None:
            continue
        if key not in secret_keys:
            # Never echo the value: it is a password that was just stored in plaintext.
            r.refuse(key, f"must be set as a secret: pulumi config rm {key} && pulumi config set --secret {key} "
                          "<value> (the plaintext value in the stack file should be treated as leaked)")
        elif not isinstance(raw[key], str) or len(raw[key]) < MIN_SECRET_LENGTH:
            r.refuse(key, f"expected a password of at least {MIN_SECRET_LENGTH} characters (value not shown)")
        else:
            values[attr] = pulumi.Output.secret(raw[key])
    return Secrets(**values)


def project_config() -> dict[str, Any]:
    """Every config value in this project's namespace, as the CLI handed them to the program.

    pulumi.Config can only look keys up, and unknown keys (typos) must be found, so the
    program's whole config map is read from the runtime, where the language host put it.
    """
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}


def project_secret_keys() -> frozenset[str]:
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    return frozenset(k for k in SECRET_KEYS if runtime_config.is_config_secret(prefix + k))


def load_settings() -> Settings:
    return parse_settings(project_config(), pulumi.get_stack(), project_secret_keys())
