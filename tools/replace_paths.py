"""Which input changes make pulumi-docker replace a resource rather than update it in place.

Derived from the provider schema's `willReplaceOnChanges` flags and committed as
tools/docker_replace_paths.json, so the plan tool works from any checkout; a test re-derives
it from the real schema and fails when the two disagree.

A path is a tuple of property names, with "*" for any array index: ("ports", "*", "external").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("docker_replace_paths.json")
# The cloud providers' (and random's, command's) flags for the types this program uses.
CLOUD_TABLE = Path(__file__).with_name("cloud_replace_paths.json")


def derive(schema: dict[str, Any]) -> dict[str, list[str]]:
    """type token -> sorted flagged paths, dotted ("ports.*.external")."""
    out: dict[str, list[str]] = {}
    for token, spec in schema["resources"].items():
        paths: set[str] = set()
        _walk(schema, spec.get("inputProperties", {}), (), paths, seen=())
        out[token] = sorted(paths)
    return out


def _walk(schema: dict, props: dict, prefix: tuple[str, ...], out: set[str], seen: tuple[str, ...]) -> None:
    for name, spec in props.items():
        path = prefix + (name,)
        if spec.get("willReplaceOnChanges"):
            out.add(".".join(path))
        _walk_type(schema, spec, path, out, seen)


def _walk_type(schema: dict, spec: dict, path: tuple[str, ...], out: set[str], seen: tuple[str, ...]) -> None:
    if spec.get("type") == "array":
        _walk_type(schema, spec.get("items", {}), path + ("*",), out, seen)
    elif spec.get("type") == "object" and "additionalProperties" in spec:
        _walk_type(schema, spec["additionalProperties"], path + ("*",), out, seen)
    ref = spec.get("$ref", "")
    if ref.startswith("#/types/") and ref not in seen:
        target = schema["types"][ref[len("#/types/") :]]
        _walk(schema, target.get("properties", {}), path, out, seen + (ref,))


def cloud_table() -> dict[str, dict[str, list[str]]]:
    """provider -> type token -> flagged dotted paths."""
    return {k: v for k, v in json.loads(CLOUD_TABLE.read_text()).items() if not k.startswith("_")}


# pulumi-kubernetes replaces rather than updates on these paths, for the kinds this program uses
# (provider/pkg/provider/diff.go, forceNewProperties, at the pinned provider): a name or namespace
# of any object; a ConfigMap's and Secret's data (they are immutable unless the provider is told
# otherwise, so an auto-named one gets a new name); a claim's access modes, selector and storage
# class; a StatefulSet's selector, service name, claim templates and pod management; a Service's
# cluster IP. The StatefulSets' `replace_on_changes=["spec"]` (components/kube/pods.py) adds the rest.
_METADATA = ["metadata.name", "metadata.namespace"]
KUBERNETES: dict[str, list[str]] = {
    f"kubernetes:{token}": _METADATA + paths
    for token, paths in {
        "core/v1:ConfigMap": ["binaryData", "data"],
        "core/v1:Secret": ["data", "stringData", "type"],
        "core/v1:Namespace": [],
        "core/v1:PersistentVolumeClaim": [
            "spec.accessModes",
            "spec.selector",
            "spec.storageClassName",
            "spec.volumeName",
        ],
        "core/v1:Service": ["spec.clusterIP"],
        "apps/v1:StatefulSet": [
            "spec.podManagementPolicy",
            "spec.revisionHistoryLimit",
            "spec.selector",
            "spec.serviceName",
            "spec.volumeClaimTemplates",
        ],
        "policy/v1:PodDisruptionBudget": [],
        "networking.k8s.io/v1:NetworkPolicy": [],
        "batch/v1:CronJob": [],
    }.items()
}


def load() -> dict[str, list[tuple[str, ...]]]:
    """type token -> flagged paths, every provider this program uses."""
    table = json.loads(TABLE.read_text())
    for tokens in cloud_table().values():
        table.update(tokens)
    table.update(KUBERNETES)
    return {token: [tuple(p.split(".")) for p in paths] for token, paths in table.items()}


def prefix_matches(flagged: Sequence[str], path: Sequence[str]) -> bool:
    if len(flagged) > len(path):
        return False
    return all(f == "*" or f == p for f, p in zip(flagged, path, strict=False))


def forces_replace(flagged: Iterable[tuple[str, ...]], changed: Sequence[str]) -> bool:
    """True if a change at `changed` (a concrete path, indices as "*") falls under a flagged path."""
    return any(prefix_matches(f, changed) for f in flagged)


def write(schema_path: Path) -> None:
    TABLE.write_text(json.dumps(derive(json.loads(schema_path.read_text())), indent=1, sort_keys=True) + "\n")
