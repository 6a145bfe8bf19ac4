"""NodeGroup: one group's containers of logical nodes, each with its retained data volume.

Containers are chained into rollout waves: container i depends on container
i - maxUnavailable, so `pulumi up` replaces at most maxUnavailable containers of the group at
once and stops at the first one that does not turn healthy (`wait=True`), leaving the rest
on the old version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from model.planning import wave_predecessor
from model.topology import DATA_PATH, HEALTH_PATH, ContainerSpec, GroupLayout

from . import containers as c

# How long one container may take to turn healthy before `pulumi up` gives up on it.
HEALTH_WAIT_SECONDS = 180
# SIGTERM, then this long for the nodes to leave consensus cleanly before SIGKILL.
STOP_GRACE_SECONDS = 30


@dataclass
class NodeGroupArgs:
    layout: GroupLayout
    max_unavailable: int  # containers replaced at once; the rollout plan's
    placement: c.Placement  # the stack, the cluster network, and whether data is protected
    # Env shared by every container of the group: tuning, consensus seeds, service endpoints.
    env: Mapping[str, pulumi.Input[str]]
    pull_image: bool
    # What every container waits for before it starts (nodes report ready only once they
    # reach PostgreSQL and Redis). Component-level depends_on is not inherited by children.
    depends_on: Sequence[pulumi.Resource] = ()


def container_env(spec: ContainerSpec, stack: str) -> dict[str, str]:
    """What tells one container which logical nodes it runs and on which ports."""
    return {
        "AURIGRAPH_STACK": stack,
        "AURIGRAPH_NODE_GROUP": spec.group,
        "AURIGRAPH_CONTAINER": spec.name,
        "AURIGRAPH_NODE_IDS": ",".join(spec.node_names),
        "AURIGRAPH_NODE_HTTP_PORTS": ",".join(map(str, spec.http_ports)),
        "AURIGRAPH_NODE_P2P_PORTS": ",".join(map(str, spec.p2p_ports)),
    }


def node_labels(spec: ContainerSpec, stack: str) -> dict[str, str]:
    return {
        f"{c.LABEL_PREFIX}.group": spec.group,
        f"{c.LABEL_PREFIX}.nodes": ",".join(spec.node_names),
        f"{c.LABEL_PREFIX}.stack": stack,
        f"{c.LABEL_PREFIX}.container": spec.name,
    }


def volume_labels(spec: ContainerSpec, stack: str) -> dict[str, str]:
    """A data volume's labels: what never changes for it (not its nodes: density moves them)."""
    return {k: v for k, v in node_labels(spec, stack).items() if k != f"{c.LABEL_PREFIX}.nodes"}


def health_command(spec: ContainerSpec) -> str:
    """Healthy only when every logical node in the container answers its readiness probe."""
    ports = " ".join(map(str, spec.http_ports))
    return f"for p in {ports}; do curl -fsS -o /dev/null http://127.0.0.1:$p{HEALTH_PATH} || exit 1; done"


class NodeGroup(pulumi.ComponentResource):
    containers: dict[str, docker.Container]
    volumes: dict[str, docker.Volume]

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:NodeGroup", name, None, opts)
        layout, stack = args.layout, args.placement.stack
        images = self._images(name, layout, args.pull_image)

        self.containers = {}
        self.volumes = {}
        for spec in layout.containers:
            # Resource names derive from this component's name; Docker names from the topology.
            resource = f"{name}-{spec.ordinal}"
            labels = node_labels(spec, stack)
            volume = c.data_volume(
                f"{resource}-data",
                f"{stack}-{spec.name}-data",
                volume_labels(spec, stack),
                protect=args.placement.protect_data,
                parent=self,
            )
            previous = wave_predecessor(spec.ordinal, args.max_unavailable)
            waits_for = list(args.depends_on)
            if previous:
                waits_for.append(self.containers[layout.containers[previous - 1].name])
            self.containers[spec.name] = docker.Container(
                resource,
                name=f"{stack}-{spec.name}",
                hostname=spec.name,
                image=images[spec.image],
                envs=c.env_list({**args.env, **container_env(spec, stack)}),
                labels=c.label_args(labels),
                networks_advanced=c.network_attachment(args.placement.network_name, [spec.name]),
                volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=DATA_PATH)],
                **c.limits(spec.cpus, spec.memory_mb),
                healthcheck=c.healthcheck(health_command(spec)),
                wait=True,
                wait_timeout=HEALTH_WAIT_SECONDS,
                restart="unless-stopped",
                must_run=True,
                destroy_grace_seconds=STOP_GRACE_SECONDS,
                opts=c.container_options(self, depends_on=waits_for),
                **c.hardening(),
            )
            self.volumes[spec.name] = volume

        self.register_outputs(
            {
                "containers": {k: v.name for k, v in self.containers.items()},
                "volumes": {k: v.name for k, v in self.volumes.items()},
            }
        )

    def _images(self, name: str, layout: GroupLayout, pull: bool) -> dict[str, pulumi.Input[str]]:
        """Image reference per distinct image in the group.

        Without pull, the container names the image and Docker uses the copy already on the
        host (creating a container never pulls through the API). With pull, a RemoteImage
        fetches it and is kept on the host when the stack lets go of it.
        """
        refs = sorted({spec.image for spec in layout.containers})
        if not pull:
            return {ref: ref for ref in refs}
        # Named by the reference itself, so adding a canary image never renames another.
        return {ref: c.pulled_image(f"{name}-image-{ref}", ref, self) for ref in refs}
