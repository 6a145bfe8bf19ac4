"""The cluster's shape: groups -> containers -> logical nodes, with names, ports and peers.

Pure: no Pulumi runtime, no I/O. Everything here is derived from validated settings, so the
same settings always give the same names and ports (the contract that keeps `pulumi up`
from renaming a container that did not change).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:  # only for type hints; keeps this module free of the Pulumi runtime
    from .settings import Settings

# Logical nodes are lettered inside their container (validator-1a .. validator-1e), so a
# container can hold at most 26 of them.
MAX_NODES_PER_CONTAINER = len(string.ascii_lowercase)

# Ports are per container: node i of a container listens on BASE + i. Containers have their
# own network namespaces, so the same ports repeat across containers without colliding.
NODE_HTTP_PORT_BASE = 8080
NODE_P2P_PORT_BASE = 9080

DATA_PATH = "/var/lib/aurigraph"
HEALTH_PATH = "/q/health/ready"
METRICS_PATH = "/q/metrics"

# Service DNS names on the cluster network. Nodes reach PostgreSQL, Redis and Jaeger by
# these names, never by localhost (the spec's "Issue 4").
POSTGRES_HOST = "postgres"
POSTGRES_PORT = 5432
REDIS_HOST = "redis"
REDIS_PORT = 6379
JAEGER_HOST = "jaeger"
OTLP_GRPC_PORT = 4317


# CPU and memory limits of the services beside the nodes (Redis's memory follows its
# maxmemory setting, see components/cache.py). One table, read by the components and by the
# capacity plan.
SERVICE_RESOURCES: dict[str, tuple[float, int]] = {
    "postgres": (2.0, 1024),
    "prometheus": (1.0, 1024),
    "grafana": (0.5, 256),
    "haproxy": (1.0, 256),
    "jaeger": (0.5, 512),
    "postgres-exporter": (0.25, 128),
    "redis-exporter": (0.25, 128),
    "cadvisor": (0.5, 256),
    "node-exporter": (0.25, 64),
}
REDIS_CPUS = 1.0
REDIS_OVERHEAD_MB = 128  # above maxmemory: Redis itself, client buffers, the AOF rewrite


def spread(nodes: int, containers: int) -> list[int]:
    """Nodes per container: even, with the remainder on the first containers (15/6 -> 3,3,3,2,2,2)."""
    base, extra = divmod(nodes, containers)
    return [base + 1 if i < extra else base for i in range(containers)]


def bft_fault_budget(validator_nodes: int) -> int:
    """f = floor((n - 1) / 3): how many validators may be down with the rest still a quorum."""
    return max(0, (validator_nodes - 1) // 3)


def worst_case_down(sizes: Sequence[int], max_unavailable: int) -> int:
    """Most nodes that `max_unavailable` containers being replaced at once can take down.

    Waves chain container i behind container i - max_unavailable, so at any moment at most
    one container per chain is being replaced; the worst case is the largest containers.
    """
    return sum(sorted(sizes, reverse=True)[:max_unavailable])


def largest_safe_unavailable(sizes: Sequence[int], budget: int) -> int:
    """The most containers that may be down together while at most `budget` nodes are down (>= 1)."""
    best = 1
    for k in range(1, len(sizes) + 1):
        if worst_case_down(sizes, k) <= budget:
            best = k
    return best


@dataclass(frozen=True)
class LogicalNode:
    name: str  # validator-1a
    group: str  # validator
    container: str  # validator-1
    index: int  # position inside its container, 0-based
    http_port: int
    p2p_port: int

    @property
    def p2p_address(self) -> str:
        return f"{self.container}:{self.p2p_port}"


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # validator-1: the Pulumi resource name and its DNS alias on the cluster network
    group: str
    ordinal: int  # 1-based position in its group
    nodes: tuple[LogicalNode, ...]
    cpus: float
    memory_mb: int
    image: str

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def http_ports(self) -> list[int]:
        return [n.http_port for n in self.nodes]

    @property
    def p2p_ports(self) -> list[int]:
        return [n.p2p_port for n in self.nodes]


@dataclass(frozen=True)
class GroupPlan:
    name: str
    containers: tuple[ContainerSpec, ...]
    max_unavailable: int

    @property
    def nodes(self) -> list[LogicalNode]:
        return [n for c in self.containers for n in c.nodes]

    def wave_predecessor(self, ordinal: int) -> int | None:
        """The container (by ordinal) that must be healthy before this one may be replaced."""
        before = ordinal - self.max_unavailable
        return before if before >= 1 else None


@dataclass(frozen=True)
class Topology:
    stack: str
    groups: tuple[GroupPlan, ...]

    def group(self, name: str) -> GroupPlan:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def containers(self) -> list[ContainerSpec]:
        return [c for g in self.groups for c in g.containers]

    @property
    def nodes(self) -> list[LogicalNode]:
        return [n for g in self.groups for n in g.nodes]

    @property
    def validator_peers(self) -> list[str]:
        """Every validator node as `name@container:p2pPort`, resolvable on the cluster network."""
        return [f"{n.name}@{n.p2p_address}" for n in self.group("validator").nodes]

    @property
    def fault_budget(self) -> int:
        return bft_fault_budget(len(self.group("validator").nodes))

    def counts(self) -> dict[str, dict[str, int]]:
        return {g.name: {"containers": len(g.containers), "nodes": len(g.nodes)} for g in self.groups}


def _containers(group: str, sizes: Iterable[int], cpus: float, memory_mb: int,
                image_of: Callable[[int], str]) -> tuple[ContainerSpec, ...]:
    out = []
    for ordinal, size in enumerate(sizes, start=1):
        container = f"{group}-{ordinal}"
        nodes = tuple(
            LogicalNode(
                name=f"{container}{string.ascii_lowercase[i]}",
                group=group,
                container=container,
                index=i,
                http_port=NODE_HTTP_PORT_BASE + i,
                p2p_port=NODE_P2P_PORT_BASE + i,
            )
            for i in range(size)
        )
        out.append(ContainerSpec(container, group, ordinal, nodes, cpus, memory_mb, image_of(ordinal)))
    return tuple(out)


def build_topology(settings: "Settings") -> Topology:
    groups = tuple(
        GroupPlan(
            name=g.name,
            containers=_containers(g.name, spread(g.nodes, g.containers), g.cpus, g.memory_mb, g.image_of),
            max_unavailable=g.max_unavailable,
        )
        for g in settings.groups
    )
    return Topology(stack=settings.stack, groups=groups)
