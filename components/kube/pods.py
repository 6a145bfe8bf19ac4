"""Builders shared by every workload of the Kubernetes target.

Each container of the Docker topology (a node container, or a service) becomes a StatefulSet of
one pod: its own stable name and DNS entry (a Service of the same name, so every address the
rendered configs and the env contract use, PostgreSQL's or validator-1's, resolves as it
does on the Docker network), at most one pod at a time (a validator's keys never run twice,
even when a node is lost), and its data on a claim of its own that outlives it.

Every pod meets the restricted Pod Security Standard: non-root, no privilege escalation, every
capability dropped, the runtime's default seccomp profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from model.config import CapacityConfig, KubernetesConfig

LABEL = "aurigraph.io"
PART_OF = {"app.kubernetes.io/part-of": "aurigraph"}
# How long `pulumi up` waits for one workload to be ready before it stops the rollout there.
READY_TIMEOUT = "10m"


@dataclass(frozen=True)
class KubePlacement:
    """Where a workload goes: the namespace, the cluster's placement rules, and how data is kept."""

    stack: str
    namespace: pulumi.Input[str]
    kubernetes: KubernetesConfig
    capacity: CapacityConfig
    protect_data: bool
    images: Mapping[str, str] = field(default_factory=dict)  # by the registry's image key


def selector(workload: str) -> dict[str, str]:
    """The one label that picks a workload's pod (and that its Service selects)."""
    return {f"{LABEL}/workload": workload}


def labels(placement: KubePlacement, workload: str) -> dict[str, str]:
    return {**PART_OF, f"{LABEL}/stack": placement.stack, **selector(workload)}


def secret_refs(secret: pulumi.Input[str], keys: Mapping[str, str]) -> list[dict[str, Any]]:
    """Env entries, VAR -> the key of `secret` it comes from (never the value itself)."""
    return [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for var, key in sorted(keys.items())
    ]


def quantity_cpu(cpus: float) -> str:
    """CPUs as the API server writes them back: whole numbers bare, else millicores."""
    millis = round(cpus * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def resources(cpus: float, memory_mb: int, capacity: CapacityConfig) -> dict[str, Any]:
    """Limits are the container's, as on Docker; requests are what the capacity plan lets the
    scheduler pack: the limits divided by capacity.cpuOvercommit and capacity.memoryOvercommit
    (a ratio below 1 leaves requests at the limits: the API server refuses requests above them)."""
    memory_request = max(1, round(memory_mb / max(capacity.memory_overcommit, 1.0)))
    return {
        "limits": {"cpu": quantity_cpu(cpus), "memory": f"{memory_mb}Mi"},
        "requests": {
            "cpu": quantity_cpu(max(cpus / max(capacity.cpu_overcommit, 1.0), 0.001)),
            "memory": f"{memory_request}Mi",
        },
    }


def pod_security(uid: int, gid: int | None = None) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid if gid is not None else uid,
        "fsGroup": gid if gid is not None else uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


CONTAINER_SECURITY: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def exec_probe(command: str, period: int = 10) -> dict[str, Any]:
    return {
        "exec": {"command": ["sh", "-c", command]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


@dataclass
class Files:
    """Files a pod reads, from one ConfigMap (plain) and one Secret (secret files and env).

    Both are auto-named by the provider, which replaces them when their data changes (a new
    name), so the StatefulSet that mounts them rolls its pod: a new config reaches the pod
    through the same health-gated rollout as a new image.
    """

    plain: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    executable: frozenset[str] = frozenset()


def file_key(path: str) -> str:
    return path.strip("/").replace("/", "_")


def _object(
    kind: str, name: str, placement: KubePlacement, data: Mapping[str, pulumi.Input[str]], parent: pulumi.Resource
):
    metadata = {"namespace": placement.namespace, "labels": labels(placement, name)}
    options = pulumi.ResourceOptions(parent=parent)
    if kind == "secret":
        return k8s.core.v1.Secret(
            f"{name}-secret", metadata=metadata, string_data=dict(data), type="Opaque", opts=options
        )
    return k8s.core.v1.ConfigMap(f"{name}-config", metadata=metadata, data=dict(data), opts=options)


def mounted(name: str, placement: KubePlacement, files: Files, parent: pulumi.Resource):
    """(volumes, volume mounts, env from the Secret) for `files`: each file mounted at its path."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []

    def mount(kind: str, entries: Mapping[str, Any], source: dict[str, Any]) -> None:
        items = [
            {"key": file_key(p), "path": file_key(p), "mode": 0o555 if p in files.executable else 0o444}
            for p in sorted(entries)
        ]
        volumes.append({"name": kind, **{k: {**v, "items": items} for k, v in source.items()}})
        mounts.extend({"name": kind, "mountPath": p, "subPath": file_key(p), "readOnly": True} for p in sorted(entries))

    if files.plain:
        config = _object("config", name, placement, {file_key(p): v for p, v in files.plain.items()}, parent)
        mount("config", files.plain, {"configMap": {"name": config.metadata.name}})
    if files.secret or files.secret_env:
        data = {**{file_key(p): v for p, v in files.secret.items()}, **files.secret_env}
        secret = _object("secret", name, placement, data, parent)
        if files.secret:
            mount("secret", files.secret, {"secret": {"secretName": secret.metadata.name}})
        env = secret_refs(secret.metadata.name, {var: var for var in files.secret_env})
    return volumes, mounts, env


def claim(name: str, placement: KubePlacement, parent: pulumi.Resource) -> k8s.core.v1.PersistentVolumeClaim:
    """`data-<name>`: kept when its pod, its StatefulSet or the stack goes (retain_on_delete), and
    on a protectData stack not deleted at all until protection is lifted. Its name never changes,
    so growing a group only adds claims."""
    k = placement.kubernetes
    return k8s.core.v1.PersistentVolumeClaim(
        f"{name}-data",
        metadata={"name": f"data-{name}", "namespace": placement.namespace, "labels": labels(placement, name)},
        spec={
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{k.data_gb}Gi"}},
            **({"storageClassName": k.storage_class} if k.storage_class else {}),
        },
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, protect=placement.protect_data),
    )


def placement_spec(placement: KubePlacement) -> dict[str, Any]:
    k = placement.kubernetes
    return {
        **({"nodeSelector": dict(k.node_selector)} if k.node_selector else {}),
        **({"tolerations": [dict(t) for t in k.tolerations]} if k.tolerations else {}),
    }


@dataclass
class Workload:
    """One StatefulSet of one pod, its Service and, with `data_path`, its claim."""

    name: str  # the StatefulSet, its Service and its DNS name
    container: dict[str, Any]  # the pod's one container: image, command, env, ports, probes
    uid: int
    cpus: float
    memory_mb: int
    files: Files = field(default_factory=Files)
    data_path: str | None = None
    ports: Sequence[tuple[str, int]] = ()  # (name, port) the Service exposes
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    headless: bool = False  # nodes: a DNS name per pod, published before it is ready (peers bootstrap)
    spread: Sequence[dict[str, Any]] = ()
    grace_seconds: int = 30
    gid: int | None = None  # the pod's group (fsGroup), when not the uid's
    extra_volumes: list[dict[str, Any]] = field(default_factory=list)
    extra_mounts: list[dict[str, Any]] = field(default_factory=list)


def pod_name(workload: k8s.apps.v1.StatefulSet) -> pulumi.Output[str]:
    """The one pod of a workload's StatefulSet."""
    return workload.metadata.name.apply(lambda name: f"{name}-0")


def stateful(
    resource: str,
    w: Workload,
    placement: KubePlacement,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apps.v1.StatefulSet:
    """The workload's StatefulSet (what a later wave waits for), its Service and its claim."""
    pod_labels = {**labels(placement, w.name), **w.pod_labels}
    volumes, mounts, secret_env = mounted(w.name, placement, w.files, parent)
    volumes += w.extra_volumes
    mounts += w.extra_mounts
    if w.data_path is not None:
        data = claim(w.name, placement, parent)
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": data.metadata.name}})
        mounts.append({"name": "data", "mountPath": w.data_path})
    container = {
        **w.container,
        "name": "main",
        "env": [*w.container.get("env", []), *secret_env],
        "volumeMounts": mounts,
        "resources": resources(w.cpus, w.memory_mb, placement.capacity),
        "securityContext": CONTAINER_SECURITY,
        "imagePullPolicy": "IfNotPresent",
    }
    k8s.core.v1.Service(
        resource,
        metadata={"name": w.name, "namespace": placement.namespace, "labels": labels(placement, w.name)},
        spec={
            "selector": selector(w.name),
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in w.ports],
            **({"clusterIP": "None", "publishNotReadyAddresses": True} if w.headless else {}),
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return k8s.apps.v1.StatefulSet(
        resource,
        # Auto-named, so a replacement is a StatefulSet of a new name: see the options below.
        metadata={"namespace": placement.namespace, "labels": labels(placement, w.name)},
        spec={
            "serviceName": w.name,
            "replicas": 1,
            "selector": {"matchLabels": selector(w.name)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "securityContext": pod_security(w.uid, w.gid),
                    "terminationGracePeriodSeconds": w.grace_seconds,
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": volumes,
                    **placement_spec(placement),
                    **({"topologySpreadConstraints": list(w.spread)} if w.spread else {}),
                },
            },
        },
        # A change to the pod is a replacement, deleted first (the provider deletes in the
        # foreground: the pod is gone before the new StatefulSet makes it again), then created and
        # awaited until its pod is Ready. Not an in-place update: the provider's StatefulSet await
        # can pass on the status from before the controller saw the change (pulumi-kubernetes
        # provider/pkg/await/statefulset.go compares currentRevision with updateRevision and
        # never observedGeneration with generation), and measured here that let the next wave
        # start while the pod was still down. The claim is a resource of its own, untouched.
        # The replacement gets a new name (the engine checks a replacement again without its old
        # inputs, so the provider names it afresh). The create await replays the provider's
        # informer cache and matches by name and generation only, never by uid
        # (statefulset.go processStatefulSetEvent): a same-named replacement, generation 1 like
        # the one just deleted, could end its await on the deleted one's cached Ready status.
        # A new name rules that out by construction; it was read in the code, not seen to fail.
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            replace_on_changes=["spec"],
            delete_before_replace=True,
            custom_timeouts=pulumi.CustomTimeouts(create=READY_TIMEOUT, update=READY_TIMEOUT, delete=READY_TIMEOUT),
        ),
    )
