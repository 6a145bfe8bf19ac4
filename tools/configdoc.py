"""Pulumi.yaml's config declarations and the README's config and service references, generated from the
models (model/config.py) and the service registry (model/services.py).

    python -m tools.configdoc --write    rewrite both
    python -m tools.configdoc --check    exit 1 naming each file that is out of date (CI runs this as a test)

Defaults then live in one place, the models; the CLI, the program and the docs cannot drift.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from model.config import SECRET_KEYS, GroupConfig, StackConfig, extra, model_of
from model.services import SERVICES
from model.settings import FEATURES
from model.types import Rule
from tools.ops import ToolParser, run_tool

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILE = REPO / "Pulumi.yaml"
README = REPO / "README.md"
MARKERS = {
    "config-reference": "<!-- config-reference:begin (python -m tools.configdoc --write) -->",
    "services": "<!-- services:begin (python -m tools.configdoc --write) -->",
}
CONFIG_MARKER = "config:\n"
GENERATED = (
    "  # Generated from model/config.py by `python -m tools.configdoc --write`; edit the models, not\n"
    "  # this block. Every key has a default but density: the CLI refuses a stack that leaves out a\n"
    "  # declared key without one. The optional secrets (dbPassword, redisPassword,\n"
    "  # grafanaAdminPassword) are not declared: they are generated when unset.\n"
)


def _rule(field: FieldInfo) -> Rule | None:
    return next((m for m in field.metadata if isinstance(m, Rule)), None)


def _shown_default(field: FieldInfo) -> str:
    shown = extra(field).get("shown")
    if shown:
        return shown
    if field.is_required():
        return "required"
    if field.default_factory is not None or field.default is None:
        return "none" if field.default_factory is None else "see below"
    value = list(field.default) if isinstance(field.default, tuple) else field.default
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for field in model.model_fields.values():
        key = f"{prefix}{field.alias}"
        inner = model_of(field.annotation)
        if inner is not None and inner.__name__ == "GroupConfig" and prefix == "groups.":
            continue  # listed once, as groups.<group>.*
        rule = _rule(field)
        accepts = rule.expected if rule else "an object"
        description = field.description or _doc(inner)
        yield key, accepts, _shown_default(field), description
        if inner is not None:
            yield from _rows(inner, f"{key}.")
    if model.__name__ == "GroupsConfig":
        yield from _rows(GroupConfig, "groups.<group>.")


def _doc(model: type | None) -> str:
    """A model's docstring as one line (a table cell, a YAML description)."""
    return " ".join((model.__doc__ or "").split())


def reference_table() -> str:
    lines = ["| key | accepts | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {a} | {d} | {m} |" for k, a, d, m in _rows(StackConfig, "")]
    return "\n".join(lines) + "\n"


def services_table() -> str:
    lines = [
        "| service | image (pinned; `serviceImages.<key>`) | on the cluster network | published on the host | "
        "limits | data volume |",
        "|---|---|---|---|---|---|",
    ]
    for s in SERVICES:
        published = (
            "; ".join(
                f"`{'adminBindAddress' if p.admin else 'apiBindAddress'}`:`ports.{p.key}` ({p.default}), "
                f"{p.description}"
                for p in s.published
            )
            or "nothing"
        )
        memory = f"{s.memory_mb} MB" + (" + `cache.maxMemoryMb`" if s.memory_follows_cache else "")
        volume = f"`<stack>-{s.name}-data` at `{s.data_path}`" if s.data_path else "none"
        reached = f"`{s.address}`" if s.port else "listens on nothing"
        when = f" ({FEATURES[s.feature].when})" if s.feature else ""
        lines.append(
            f"| `{s.name}`{when} | `{s.image}` (`{s.image_key}`) | {reached} | {published} | {s.cpus:g} CPU, "
            f"{memory} | {volume} |"
        )
    return "\n".join(lines) + "\n"


def _declaration(field: FieldInfo) -> dict[str, Any]:
    inner = model_of(field.annotation)
    rule = _rule(field)
    if inner is not None:
        keys = "; ".join(f"{f.alias} ({_shown_default(f).strip('`')})" for f in inner.model_fields.values())
        description = f"{_doc(inner)} An object with: {keys}. See the README's config reference."
        return {"type": "object", "default": {}, "description": description}
    if rule is None:
        raise TypeError(f"config field {field.alias} has neither a leaf type nor a model")
    decl: dict[str, Any] = {"type": rule.kind, "description": field.description}
    if not field.is_required():
        decl["default"] = field.default
    return {k: decl[k] for k in ("type", "default", "description") if k in decl}


def project_file() -> str:
    text = PROJECT_FILE.read_text()
    head = text[: text.index(CONFIG_MARKER) + len(CONFIG_MARKER)]
    config = {f.alias: _declaration(f) for f in StackConfig.model_fields.values() if f.alias not in SECRET_KEYS}
    body = yaml.safe_dump(config, sort_keys=False, width=100, default_flow_style=False)
    return head + GENERATED + "".join(f"  {line}\n" for line in body.splitlines())


def readme() -> str:
    text = README.read_text()
    for name, table in (("config-reference", reference_table()), ("services", services_table())):
        start = text.index(MARKERS[name]) + len(MARKERS[name])
        end = text.index(f"<!-- {name}:end -->")
        text = text[:start] + "\n\n" + table + "\n" + text[end:]
    return text


def outdated() -> list[Path]:
    return [path for path, want in ((PROJECT_FILE, project_file()), (README, readme())) if path.read_text() != want]


def main(argv: list[str] | None = None) -> int:
    parser = ToolParser(prog="python -m tools.configdoc", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite Pulumi.yaml's config and the README table")
    mode.add_argument("--check", action="store_true", help="exit 1 if either is out of date")
    args = parser.parse_args(argv)
    if args.write:
        PROJECT_FILE.write_text(project_file())
        README.write_text(readme())
        return 0
    stale = outdated()
    for path in stale:
        print(
            f"{path.name} is out of date with model/config.py: run python -m tools.configdoc --write", file=sys.stderr
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(run_tool("python -m tools.configdoc", main))
