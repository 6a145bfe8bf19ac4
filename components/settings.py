"""Stack configuration, read once and validated before any resource is registered.

This is the only module that reads Pulumi config. Everything downstream receives the frozen
`Settings` it returns. Every problem found is reported at once, in one `ConfigError` whose
message names the config key, what was expected and what was given. It subclasses
`pulumi.RunError`, so `pulumi up` prints the message and no Python traceback.

Defaults for scalar keys live in Pulumi.yaml (the CLI hands them to the program); the
density presets below are the defaults for the structured keys `groups` and `tuning`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pulumi

from .topology import (
    MAX_NODES_PER_CONTAINER,
    bft_fault_budget,
    largest_safe_unavailable,
    spread,
    worst_case_down,
)

PROJECT = "aurigraph-cluster"

GROUP_NAMES = ("validator", "business", "slim")
DENSITIES = ("option-b", "option-c", "custom")
TARGETS = ("local",)

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

GROUP_KEYS = ("containers", "nodes", "cpus", "memoryMb", "image", "maxUnavailable", "allowQuorumRisk")

# Every top-level key this program understands. Anything else in the project's namespace is
# a typo and an error.
TOP_LEVEL_KEYS = ("target", "density", "image", "pullImage", "protectData", "adminBindAddress", "groups", "tuning")


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


def parse_settings(raw: Mapping[str, Any], stack: str) -> Settings:
    """Validate the project's config values (keys without the `aurigraph-cluster:` prefix)."""
    r = _Reader()
    warnings: list[str] = []

    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            r.unknown(key, key, TOP_LEVEL_KEYS)

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
    allow_risk = r.boolean(f"{prefix}.allowQuorumRisk", raw["allowQuorumRisk"]) if "allowQuorumRisk" in raw else False
    if "allowQuorumRisk" in raw and name != "validator":
        r.refuse(f"{prefix}.allowQuorumRisk", "only the validator group has a quorum; remove this key")
    max_unavailable = (r.integer(f"{prefix}.maxUnavailable", raw["maxUnavailable"], 1)
                       if "maxUnavailable" in raw else 0)  # 0: derive it once the layout is known

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
    return GroupSettings(name, containers, nodes, cpus, memory_mb, image, max_unavailable, bool(allow_risk))


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
    values = {
        attr: r.integer(f"tuning.{key}", raw[key], 1) if key in raw else getattr(preset, attr)
        for key, attr in TUNING_KEYS.items()
    }
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


def project_config() -> dict[str, Any]:
    """Every config value in this project's namespace, as the CLI handed them to the program.

    pulumi.Config can only look keys up, and unknown keys (typos) must be found, so the
    program's whole config map is read from the runtime, where the language host put it.
    """
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}


def load_settings() -> Settings:
    return parse_settings(project_config(), pulumi.get_stack())
