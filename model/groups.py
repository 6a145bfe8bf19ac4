"""Node groups: each density preset merged with the stack's overrides, the tuning, and each
group's LevelDB cache, checked against one another. Pure; problems are collected, not raised."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .config import GROUP_NAMES, PRESETS, TUNING_PRESETS, StackConfig, TuningConfig
from .problems import Problem

# Logical nodes are lettered inside their container (validator-1a .. validator-1z).
MAX_NODES_PER_CONTAINER = 26


@dataclass(frozen=True)
class Group:
    """One node group with the preset and the overrides merged."""

    name: str
    containers: int
    nodes: int
    cpus: float
    memory_mb: int
    image: str
    max_unavailable: int | None  # None: derived by the rollout plan
    allow_quorum_risk: bool = False
    # A canary runs canary_image on the first canary_containers containers; the rest keep image.
    canary_image: str | None = None
    canary_containers: int = 0
    leveldb_cache_mb: int = 0  # set once tuning is known (_caches)

    def env(self) -> dict[str, str]:
        """The env of this group's containers only, beside what all node containers share."""
        return {"AURIGRAPH_LEVELDB_CACHE_MB": str(self.leveldb_cache_mb)}

    def image_of(self, ordinal: int) -> str:
        return self.canary_image if self.canary_image and ordinal <= self.canary_containers else self.image


def merge_groups(config: StackConfig, problems: list[Problem]) -> list[Group]:
    presets = PRESETS.get(config.density)
    groups = []
    for name in GROUP_NAMES:
        g = getattr(config.groups, name)
        prefix = f"groups.{name}"
        preset = presets[name] if presets else None
        if preset is None:
            for key in ("containers", "nodes"):
                if getattr(g, key) is None:
                    problems.append(
                        Problem(
                            f"{prefix}.{key}", "missing; density 'custom' needs containers and nodes for every group"
                        )
                    )
        containers = g.containers or (preset and preset.containers)
        nodes = g.nodes or (preset and preset.nodes)
        fallback = PRESETS["option-b"][name]
        before = len(problems)
        if g.allow_quorum_risk and name != "validator":
            problems.append(
                Problem(f"{prefix}.allowQuorumRisk", "only the validator group has a quorum; remove this key")
            )
        if containers and nodes:
            if containers > nodes:
                problems.append(
                    Problem(
                        f"{prefix}.containers",
                        f"expected at most groups.{name}.nodes ({nodes}) "
                        f"containers, one node each at least, got {containers}",
                    )
                )
            elif math.ceil(nodes / containers) > MAX_NODES_PER_CONTAINER:
                problems.append(
                    Problem(
                        f"{prefix}.nodes",
                        f"expected at most {MAX_NODES_PER_CONTAINER} nodes per "
                        f"container ({containers} containers hold "
                        f"{containers * MAX_NODES_PER_CONTAINER} at most), got {nodes}",
                    )
                )
            if g.max_unavailable and g.max_unavailable > containers:
                problems.append(
                    Problem(
                        f"{prefix}.maxUnavailable",
                        f"expected at most groups.{name}.containers ({containers}), got {g.max_unavailable}",
                    )
                )
            if g.canary and g.canary.containers >= containers:
                problems.append(
                    Problem(
                        f"{prefix}.canary.containers",
                        f"expected fewer than groups.{name}.containers ({containers}); for all of "
                        f"them set groups.{name}.image, got {g.canary.containers}",
                    )
                )
        if len(problems) == before and containers and nodes:
            groups.append(
                Group(
                    name=name,
                    containers=containers,
                    nodes=nodes,
                    cpus=g.cpus or fallback.cpus,
                    memory_mb=g.memory_mb or fallback.memory_mb,
                    image=g.image or config.image,
                    max_unavailable=g.max_unavailable,
                    allow_quorum_risk=g.allow_quorum_risk,
                    canary_image=g.canary.image if g.canary else None,
                    canary_containers=g.canary.containers if g.canary else 0,
                )
            )
    return groups


def merge_tuning(config: StackConfig, problems: list[Problem]) -> TuningConfig:
    preset = TUNING_PRESETS.get(config.density, TUNING_PRESETS["option-b"])
    tuning = config.tuning.model_copy(update={k: v for k, v in preset.items() if getattr(config.tuning, k) is None})
    if tuning.heartbeat_ms * 2 > tuning.consensus_timeout_ms:
        # A follower must see at least two heartbeats per election timeout, or it calls
        # spurious elections (the spec alerts on more than two an hour).
        problems.append(
            Problem(
                "tuning.heartbeatMs",
                "expected at most half of tuning.consensusTimeoutMs "
                f"({tuning.consensus_timeout_ms}), got {tuning.heartbeat_ms}",
            )
        )
    return tuning


# The cache shares the container with the JVM heap, its threads and the page cache. The spec's
# validators give it 200 of 384 MB (52%); 60% is the most we let it take.
CACHE_SHARE_MAX = 0.6
# Business and slim containers default to at most half of their preset memory (160 and 96 MB).
# Fixed, not following groups.<group>.memoryMb: a memory change stays an in-place update.
CACHE_SHARE_DEFAULT = 0.5


def with_caches(config: StackConfig, groups: list[Group], tuning: TuningConfig, problems: list[Problem]) -> list[Group]:
    """Each group's LevelDB cache: its own key, else tuning.leveldbCacheMb for validators and the
    smaller of that and half the preset memory for the others (a slim container has 192 MB in all)."""
    out = []
    for g in groups:
        own = getattr(config.groups, g.name).leveldb_cache_mb
        if own is not None:
            cache = own
        elif g.name == "validator":
            cache = tuning.leveldb_cache_mb
        else:
            cache = min(tuning.leveldb_cache_mb, int(PRESETS["option-b"][g.name].memory_mb * CACHE_SHARE_DEFAULT))
        limit = int(g.memory_mb * CACHE_SHARE_MAX)
        if cache > limit:
            key = (
                "tuning.leveldbCacheMb" if own is None and g.name == "validator" else f"groups.{g.name}.leveldbCacheMb"
            )
            problems.append(
                Problem(
                    key,
                    f"expected at most {CACHE_SHARE_MAX:.0%} of groups.{g.name}.memoryMb "
                    f"({g.memory_mb}): {limit} MB, got {cache}"
                    + ("" if own is not None else " (the default; set it lower, or raise the memory)"),
                )
            )
        out.append(dataclasses.replace(g, leveldb_cache_mb=cache))
    return out
