"""The plan, after settings and topology: rollout waves, the capacity plan, and the VM's size.

Pure. `make_plan` refuses, with a ConfigError naming the key, a layout whose rollout would
cost the validators their quorum and a host too small for the containers' limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .clouds import CLOUDS
from .kube import on_kubernetes, worst_zone_loss
from .problems import ConfigError, Problem
from .services import deployed
from .settings import Settings
from .topology import Topology, bft_fault_budget, spread

# What the host keeps for itself (OS, dockerd, sshd) before the containers' limits.
HOST_RESERVE_CPUS = 1.0
HOST_RESERVE_MB = 1024


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


def wave_predecessor(ordinal: int, max_unavailable: int) -> int | None:
    """The container (by ordinal) that must be healthy before this one may be replaced."""
    before = ordinal - max_unavailable
    return before if before >= 1 else None


@dataclass(frozen=True)
class CapacityPlan:
    """Summed container limits against the host (when the host is known)."""

    containers: int
    container_cpus: float
    container_memory_mb: int
    largest_container_cpus: float
    cpu_overcommit: float
    memory_overcommit: float
    host_cpus: float | None = None
    host_memory_mb: int | None = None

    def fits(self, cpus: float, memory_mb: int) -> bool:
        return (
            self.largest_container_cpus <= cpus
            and self.container_cpus <= (cpus - HOST_RESERVE_CPUS) * self.cpu_overcommit
            and self.container_memory_mb <= (memory_mb - HOST_RESERVE_MB) * self.memory_overcommit
        )

    def needs(self) -> str:
        return (
            f"{self.containers} containers with {self.container_cpus:g} CPUs and {self.container_memory_mb} MB "
            f"of limits, the largest {self.largest_container_cpus:g} CPUs; cpuOvercommit "
            f"{self.cpu_overcommit:g}, memoryOvercommit {self.memory_overcommit:g}; {HOST_RESERVE_CPUS:g} CPU "
            f"and {HOST_RESERVE_MB} MB kept for the host"
        )

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
        if self.host_cpus and self.host_memory_mb:
            out["cpuRatio"] = round(self.container_cpus / (self.host_cpus - HOST_RESERVE_CPUS), 2)
            out["memoryRatio"] = round(self.container_memory_mb / (self.host_memory_mb - HOST_RESERVE_MB), 2)
        return out


@dataclass(frozen=True)
class VmSize:
    size: str
    cpus: int
    memory_mb: int
    chosen: bool  # picked from the catalog by the capacity plan rather than given


@dataclass(frozen=True)
class Plan:
    max_unavailable: dict[str, int]  # group -> containers replaced at once
    capacity: CapacityPlan
    vm_size: VmSize | None
    warnings: tuple[str, ...]
    # target kubernetes: group -> logical nodes the worst single zone holds (model/kube.py).
    zone_loss: dict[str, int] | None = None

    def wave_predecessor(self, group: str, ordinal: int) -> int | None:
        return wave_predecessor(ordinal, self.max_unavailable[group])


def _rollout(settings: Settings, problems: list[Problem], warnings: list[str]) -> dict[str, int]:
    """Each group's maxUnavailable; refuses layouts that would cost the validators their quorum."""
    out = {}
    for g in settings.groups:
        sizes = spread(g.nodes, g.containers)
        if g.name == "validator":
            budget = bft_fault_budget(g.nodes)
            reason = f"the BFT fault budget f = floor(({g.nodes} - 1) / 3) = {budget} validator nodes"
        else:
            budget = g.nodes // 2
            reason = f"half of the group's {g.nodes} nodes ({budget}) kept serving"
        out[g.name] = g.max_unavailable or largest_safe_unavailable(sizes, budget)
        down = worst_case_down(sizes, out[g.name])
        if down > budget:
            key = f"groups.{g.name}.maxUnavailable" if g.max_unavailable else f"groups.{g.name}.containers"
            if g.name == "validator" and not g.allow_quorum_risk:
                problems.append(
                    Problem(
                        key,
                        f"a rollout could take {down} validator nodes down at once, above "
                        f"{reason}; spread the validators over more containers, lower "
                        "maxUnavailable, or set groups.validator.allowQuorumRisk: true to "
                        "accept losing quorum during rollouts",
                    )
                )
            else:
                warnings.append(
                    f"{key}: a rollout may take {down} nodes of group '{g.name}' down at once, above {reason}"
                )
    return out


def _container_limits(settings: Settings, topology: Topology) -> CapacityPlan:
    limits = [(c.cpus, c.memory_mb) for c in topology.containers]
    services = deployed(settings.features)
    services = on_kubernetes(services) if settings.kubernetes else services
    limits += [(s.cpus, s.memory_limit(settings.cache.max_memory_mb)) for s in services]
    return CapacityPlan(
        containers=len(limits),
        container_cpus=round(sum(c for c, _ in limits), 2),
        container_memory_mb=sum(m for _, m in limits),
        largest_container_cpus=max(c for c, _ in limits),
        cpu_overcommit=settings.capacity.cpu_overcommit,
        memory_overcommit=settings.capacity.memory_overcommit,
    )


def _vm_size(settings: Settings, plan: CapacityPlan, problems: list[Problem]) -> VmSize | None:
    vm, cloud = settings.vm, CLOUDS[settings.target]
    if vm is None:  # a cloud target without vm is refused before the plan
        return None
    if vm.size is None:
        chosen = cloud.smallest_fitting(plan.fits)
        if chosen is None:
            name, cpus, memory = cloud.catalog[-1]
            problems.append(
                Problem(
                    "vm.size",
                    f"no size in the {cloud.name} catalog fits the plan ({plan.needs()}); "
                    f"the biggest, {name}, has {cpus} CPUs and {memory} MB: set vm.size, "
                    "vm.cpus and vm.memoryMb for a bigger machine, or raise the "
                    "capacity.*Overcommit ratios",
                )
            )
            return None
        return VmSize(*chosen, chosen=True)
    known = cloud.size_of(vm.size)
    if known is not None:
        # A catalog size has what the catalog says: vm.cpus or vm.memoryMb cannot make it bigger.
        for key, given, has in (("vm.cpus", vm.cpus, known[0]), ("vm.memoryMb", vm.memory_mb, known[1])):
            if given is not None and given != has:
                problems.append(
                    Problem(
                        key,
                        f"{vm.size} has {has}, not {given}; leave {key} unset for a catalog "
                        "size (the capacity plan reads it from the catalog)",
                    )
                )
        return VmSize(vm.size, *known, chosen=False)
    if vm.cpus is not None and vm.memory_mb is not None:
        return VmSize(vm.size, vm.cpus, vm.memory_mb, chosen=False)
    if known is None:
        names = ", ".join(s for s, _, _ in cloud.catalog)
        problems.append(
            Problem(
                "vm.size",
                f"expected one of {names}, or any {cloud.name} size with vm.cpus and "
                f'vm.memoryMb set to what it has, got "{vm.size}"',
            )
        )
        return None
    return VmSize(vm.size, *known, chosen=False)


def _check_host(
    plan: CapacityPlan, cpus: float, memory_mb: int, cpu_key: str, memory_key: str, problems: list[Problem]
) -> CapacityPlan:
    plan = replace(plan, host_cpus=cpus, host_memory_mb=memory_mb)
    if plan.largest_container_cpus > cpus:
        problems.append(
            Problem(
                cpu_key,
                f"a container asks for {plan.largest_container_cpus:g} CPUs and the host has "
                f"{cpus:g}; Docker refuses a CPU limit above the host's CPUs",
            )
        )
    elif plan.container_cpus > (cpus - HOST_RESERVE_CPUS) * plan.cpu_overcommit:
        problems.append(
            Problem(
                cpu_key,
                f"the host is too small: {plan.needs()}; needs "
                f"{plan.container_cpus / plan.cpu_overcommit + HOST_RESERVE_CPUS:.1f} CPUs, "
                f"has {cpus:g}",
            )
        )
    if plan.container_memory_mb > (memory_mb - HOST_RESERVE_MB) * plan.memory_overcommit:
        problems.append(
            Problem(
                memory_key,
                f"the host is too small: {plan.needs()}; needs "
                f"{plan.container_memory_mb / plan.memory_overcommit + HOST_RESERVE_MB:.0f}"
                f" MB, has {memory_mb}",
            )
        )
    return plan


def _zone_loss(settings: Settings, problems: list[Problem], warnings: list[str]) -> dict[str, int] | None:
    """Target kubernetes: what losing the zone that holds the most of each group takes down. A
    validator loss above f costs quorum: a warning, and a protectData stack refuses it."""
    if settings.kubernetes is None:
        return None
    zones = settings.kubernetes.zones
    loss = {g.name: worst_zone_loss(spread(g.nodes, g.containers), zones) for g in settings.groups}
    validators = settings.group("validator")
    f = bft_fault_budget(validators.nodes)
    if loss["validator"] > f:
        why = (
            f"losing one of {zones} zones could take {loss['validator']} validator nodes down, above the BFT fault "
            f"budget f = {f}: the validators would lose quorum"
        )
        # No zone may hold more than f validator nodes, so fewer than ceil(n / f) zones never do.
        least = -(-validators.nodes // f) if f else validators.nodes + 1
        fix = (
            f"spread the validators over at least {least} zones (kubernetes.zones; the cluster must have them)"
            if zones < least
            else "spread the validators over more zones (kubernetes.zones; the cluster must have them) or over "
            "more, smaller containers (groups.validator.containers)"
        )
        if settings.protect_data:
            problems.append(Problem("kubernetes.zones", f"{why}; {fix}, or set protectData false to accept it"))
        else:
            warnings.append(f"kubernetes.zones: {why}; {fix}")
    return loss


def make_plan(settings: Settings, topology: Topology) -> Plan:
    problems: list[Problem] = []
    warnings: list[str] = []
    max_unavailable = _rollout(settings, problems, warnings)
    zone_loss = _zone_loss(settings, problems, warnings)
    capacity = _container_limits(settings, topology)
    vm_size = None
    if settings.ssh is not None:
        capacity = _check_host(
            capacity, settings.ssh.cpus, settings.ssh.memory_mb, "ssh.cpus", "ssh.memoryMb", problems
        )
    elif settings.vm is not None:
        vm_size = _vm_size(settings, capacity, problems)
        if vm_size is not None:
            capacity = _check_host(capacity, vm_size.cpus, vm_size.memory_mb, "vm.size", "vm.size", problems)
    if problems:
        raise ConfigError(settings.stack, problems)
    return Plan(max_unavailable, capacity, vm_size, tuple(warnings), zone_loss)
