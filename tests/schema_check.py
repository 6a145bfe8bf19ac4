"""Check recorded resource inputs against a Pulumi package schema (names, types, required fields)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.helpers import REPO

DOCKER_SCHEMA = REPO / "tests" / "schemas" / "pulumi-docker-schema.json"
PROJECT_SCHEMA = REPO / "tests" / "schemas" / "pulumi-project-schema.json"


@cache
def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _check(schema: dict, spec: dict, value: Any, where: str, problems: list[str]) -> None:
    if "$ref" in spec:
        ref = spec["$ref"]
        if not ref.startswith("#/types/"):
            return  # a reference to another package (pulumi.json#/Archive etc.): not checked here
        target = schema["types"][ref[len("#/types/") :]]
        if "enum" in target:
            allowed = [e["value"] for e in target["enum"]]
            if value not in allowed:
                problems.append(f"{where}: {value!r} is not one of {allowed}")
            return
        _check_object(schema, target, value, where, problems)
        return
    kind = spec.get("type")
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "array":
        ok = isinstance(value, list)
        if ok:
            for i, item in enumerate(value):
                _check(schema, spec["items"], item, f"{where}[{i}]", problems)
    elif kind == "object":
        ok = isinstance(value, dict)
        if ok and "additionalProperties" in spec:
            for k, item in value.items():
                _check(schema, spec["additionalProperties"], item, f"{where}.{k}", problems)
    else:
        ok = True
    if not ok:
        problems.append(f"{where}: expected {kind}, got {type(value).__name__} {value!r}")


def _check_object(
    schema: dict,
    spec: dict,
    value: Any,
    where: str,
    problems: list[str],
    properties_key: str = "properties",
    required_key: str = "required",
) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object, got {value!r}")
        return
    props = spec.get(properties_key, {})
    for key, item in value.items():
        if key not in props:
            problems.append(f"{where}.{key}: no such property")
            continue
        _check(schema, props[key], item, f"{where}.{key}", problems)
    for key in spec.get(required_key, []):
        if key not in value:
            problems.append(f"{where}.{key}: required and missing")


def _provider_value(spec: dict, value: Any) -> Any:
    if isinstance(value, str) and spec.get("type") not in (None, "string"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def check_inputs(schema: dict, type_token: str, inputs: dict[str, Any]) -> list[str]:
    """Problems with `inputs` for a resource of `type_token` (empty when they conform)."""
    problems: list[str] = []
    if type_token.startswith("pulumi:providers:"):
        spec = schema["provider"]
        # Provider configuration travels as strings: the SDK JSON-encodes every other type.
        inputs = {k: _provider_value(spec["inputProperties"].get(k, {}), v) for k, v in inputs.items()}
    else:
        spec = schema["resources"].get(type_token)
        if spec is None:
            return [f"{type_token}: not a resource of this package"]
    _check_object(schema, spec, inputs, type_token, problems, "inputProperties", "requiredInputs")
    return problems
