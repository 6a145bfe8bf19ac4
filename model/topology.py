"""The cluster's shape: groups -> containers -> logical nodes, with names, ports and peers.

Pure: no Pulumi runtime, no I/O. Everything here is derived from validated settings, so the
same settings always give the same names and ports (the contract that keeps `pulumi up`
from renaming a container that did not change).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .groups import Group
    from .settings import Settings


# Ports are per container: node i of a container listens on BASE + i. Containers have their
# own network namespaces, so the same ports repeat across containers without colliding.
NODE_HTTP_PORT_BASE = 8080
NODE_P2P_PORT_BASE = 9080

DATA_PATH = "/var/lib/aurigraph"
HEALTH_PATH = "/q/health/ready"
METRICS_PATH = "/q/metrics"


def bft_fault_budget(validator_nodes: int) -> int:
    """f = floor((n - 1) / 3): how many validators may be down with the rest still a quorum."""
    return max(0, (validator_nodes - 1) // 3)


def spread(nodes: int, containers: int) -> list[int]:
    """Nodes per container: even, with the remainder on the first containers (15/6 -> 3,3,3,2,2,2)."""
    base, extra = divmod(nodes, containers)
    return [base + 1 if i < extra else base for i in range(containers)]


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
    settings: Group  # the group's, presets and overrides merged: limits, image, tuning

    @property
    def cpus(self) -> float:
        return self.settings.cpus

    @property
    def memory_mb(self) -> int:
        return self.settings.memory_mb

    @property
    def image(self) -> str:
        return self.settings.image_of(self.ordinal)

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
class GroupLayout:
    name: str
    containers: tuple[ContainerSpec, ...]
    settings: Group

    @property
    def nodes(self) -> list[LogicalNode]:
        return [n for c in self.containers for n in c.nodes]


@dataclass(frozen=True)
class Topology:
    stack: str
    groups: tuple[GroupLayout, ...]

    def group(self, name: str) -> GroupLayout:
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


def _containers(group: Group, sizes: Iterable[int]) -> tuple[ContainerSpec, ...]:
    out = []
    for ordinal, size in enumerate(sizes, start=1):
        container = f"{group.name}-{ordinal}"
        nodes = tuple(
            LogicalNode(
                name=f"{container}{string.ascii_lowercase[i]}",
                group=group.name,
                container=container,
                index=i,
                http_port=NODE_HTTP_PORT_BASE + i,
                p2p_port=NODE_P2P_PORT_BASE + i,
            )
            for i in range(size)
        )
        out.append(ContainerSpec(container, group.name, ordinal, nodes, group))
    return tuple(out)


def build_topology(settings: Settings) -> Topology:
    groups = tuple(
        GroupLayout(
            name=g.name,
            containers=_containers(g, spread(g.nodes, g.containers)),
            settings=g,
        )
        for g in settings.groups
    )
    return Topology(stack=settings.stack, groups=groups)
