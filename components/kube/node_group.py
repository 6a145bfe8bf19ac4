"""KubeNodeGroup: one group's containers of logical nodes as StatefulSets of one pod each, with
their claims, their rollout waves and the group's PodDisruptionBudget.

Rollouts are Pulumi's waves, as on Docker: container i's StatefulSet depends on container
i - maxUnavailable's, and the provider waits for each to be ready (its pod replaced and Ready)
before the next wave starts, so at most maxUnavailable of the group's pods are down at once at
any `--parallel`, and `pulumi up` stops at the first pod that does not turn ready.

Drains, upgrades and autoscaler moves go through the Eviction API, which Pulumi never sees: the
PodDisruptionBudget makes the API server refuse an eviction that would take more than the same
plan's number of pods down. It says so as minAvailable (the group's pods less that number), not
maxUnavailable: with maxUnavailable the disruption controller counts the expected pods from the
pods' controllers, and with one StatefulSet per pod an evicted pod's controller drops out of the
count until its replacement exists. Measured on the test control plane under load: expectedPods
went from 4 to 3 in that gap and a second validator eviction was allowed, 10 of 20 nodes down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from model.planning import wave_predecessor
from model.topology import DATA_PATH, GroupLayout

from ..node_group import STOP_GRACE_SECONDS, container_env, health_command
from . import pods

# The node image's user (README, "The node image contract").
NODE_UID = 10001
HOSTNAME_KEY = "kubernetes.io/hostname"


@dataclass
class KubeNodeGroupArgs:
    layout: GroupLayout
    max_unavailable: int  # pods replaced, or evicted, at once: the rollout plan's
    placement: pods.KubePlacement
    env: Mapping[str, str]  # plain env shared by the group: tuning, seeds, service endpoints
    secret_env: Sequence[dict[str, Any]]  # env entries from a Secret (pods.secret_refs)
    depends_on: Sequence[pulumi.Resource] = ()


def group_selector(placement: pods.KubePlacement, group: str) -> dict[str, str]:
    return {f"{pods.LABEL}/stack": placement.stack, f"{pods.LABEL}/group": group}


def spread(placement: pods.KubePlacement, group: str) -> list[dict[str, Any]]:
    """Validators: over zones, never more than one pod of skew, and with fewer zones than
    kubernetes.zones the surplus pods wait rather than crowd in (minDomains). Every group: over
    nodes where it can, so one drained node takes as few as possible."""
    k = placement.kubernetes
    match = {"matchLabels": group_selector(placement, group)}
    zone: dict[str, Any] = {"maxSkew": 1, "topologyKey": k.zone_key, "labelSelector": match}
    if group == "validator":
        zone.update(whenUnsatisfiable="DoNotSchedule", minDomains=k.zones)
    else:
        zone.update(whenUnsatisfiable="ScheduleAnyway")
    host = {"maxSkew": 1, "topologyKey": HOSTNAME_KEY, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": match}
    return [zone, host]


class KubeNodeGroup(pulumi.ComponentResource):
    workloads: dict[str, k8s.apps.v1.StatefulSet]

    def __init__(self, name: str, args: KubeNodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:kubernetes:NodeGroup", name, None, opts)
        layout, placement = args.layout, args.placement
        self.workloads = {}
        for spec in layout.containers:
            env = {**args.env, **container_env(spec, placement.stack)}
            previous = wave_predecessor(spec.ordinal, args.max_unavailable)
            waits_for = list(args.depends_on)
            if previous:
                waits_for.append(self.workloads[layout.containers[previous - 1].name])
            ports = [(f"http-{i}", n.http_port) for i, n in enumerate(spec.nodes)]
            ports += [(f"p2p-{i}", n.p2p_port) for i, n in enumerate(spec.nodes)]
            workload = pods.Workload(
                name=spec.name,
                container={
                    "image": spec.image,
                    "env": [{"name": k, "value": v} for k, v in sorted(env.items())] + list(args.secret_env),
                    "ports": [{"name": n, "containerPort": p} for n, p in ports],
                    "readinessProbe": pods.exec_probe(health_command(spec)),
                },
                uid=NODE_UID,
                cpus=spec.cpus,
                memory_mb=spec.memory_mb,
                data_path=DATA_PATH,
                ports=ports,
                pod_labels={f"{pods.LABEL}/group": spec.group, f"{pods.LABEL}/nodes": str(len(spec.nodes))},
                headless=True,
                spread=spread(placement, spec.group),
                grace_seconds=STOP_GRACE_SECONDS,
            )
            self.workloads[spec.name] = pods.stateful(f"{name}-{spec.ordinal}", workload, placement, self, waits_for)

        self.budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-budget",
            metadata={
                "name": f"{name}-nodes",
                "namespace": placement.namespace,
                "labels": pods.labels(placement, f"{name}-nodes"),
            },
            spec={
                "minAvailable": len(layout.containers) - args.max_unavailable,
                "selector": {"matchLabels": group_selector(placement, name)},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"statefulSets": sorted(self.workloads), "maxUnavailable": args.max_unavailable})
