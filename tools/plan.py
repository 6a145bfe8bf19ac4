"""Offline plan: the resource graph of a stack, and what changing it would do.

    python -m tools.plan STACK                       # summary: resources per group and type, waves, capacity
    python -m tools.plan STACK --json                # the full snapshot JSON
    python -m tools.plan STACK --out FILE            # the snapshot JSON into FILE
    python -m tools.plan STACK --diff OTHER          # what going from OTHER to STACK does
    python -m tools.plan STACK --set groups.validator.image=reg/v11:11.1.0 --diff STACK
    python -m tools.plan STACK --set-secret dbPassword=NEW-PASSWORD --diff STACK   # what a rotation restarts
    python -m tools.plan aws-option-b --set 'vm.adminCidrs[0]=203.0.113.0/24' --set 'vm.sshPublicKey=ssh-ed25519 AAAA...'
    python -m tools.plan aws-option-b --example-fills # placeholders filled with tools/fills.py's example values
    python -m tools.plan --update-snapshots          # rewrite snapshots/<stack>.json for every stack

--set takes `pulumi config set --path` paths (`a.b`, `a[0]`, `a["quoted.key"]`); values are
read as YAML scalars (4 is a number, true a boolean, the rest text). --set-secret KEY=VALUE is
a value as `pulumi config set --secret` would store it: kept in memory, masked in every output
(a fingerprint), never written anywhere. Exit status: 0 done,
1 the stack's config is invalid (the one-line reason is printed), 64 bad arguments or input.

OTHER is a snapshot file, another stack's name, or a git ref (its committed
snapshots/STACK.json). The program runs under Pulumi's mocks exactly as the tests run it
(tools/mockrun.py); secrets are masked. Each resource is created, deleted, updated in place or
replaced, decided the way pulumi-docker decides (the schema's replace-on-change flags, in
tools/docker_replace_paths.json) plus each resource's `replace_on_changes`, and replacements
are listed in the waves the dependency chains give them.

This is what a reviewer reads when no real `pulumi preview` is at hand; it cannot see the
live state (drift), which only `pulumi preview --refresh` can.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model.clouds import CLOUDS
from model.config import GROUP_NAMES
from tools import replace_paths
from tools.fills import fills_for
from tools.mockrun import REPO, PathError, ProgramRun, parse_path, run_program, stack_names
from tools.ops import EXIT_USAGE, ToolParser, UsageError, run_tool, write_file

SNAPSHOTS = REPO / "snapshots"
ACTIONS = ("create", "replace", "update", "delete")


# ---------------------------------------------------------------- snapshots


def _masked(secret: str) -> str:
    """`[secret:<fingerprint>]`: 8 hex digits of SHA-256, so that a diff sees a changed password
    as the engine does. Only mock values reach here: the plan tool never decrypts a stack's
    secrets (`secure:` values become a fixed placeholder) and generated passwords are the mocks'."""
    return f"[secret:{hashlib.sha256(secret.encode()).hexdigest()[:8]}]"


def _forms(secret: str) -> set[str]:
    """Every way a renderer may write the secret: as is, in a SQL or YAML single-quoted literal,
    backslash-escaped in a double-quoted one (redis.conf), JSON-escaped, shell-quoted, URL-encoded
    and base64-encoded."""
    return {
        secret,
        secret.replace("'", "''"),
        secret.replace("\\", "\\\\").replace('"', '\\"'),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.replace("'", "'\\''"),
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
    }


_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def _mask(value: Any, masks: Sequence[tuple[str, str]]) -> Any:
    """Each (secret, mask) replaced in every string of value; private keys, and base64 text that
    carries one (Azure's customData), masked whole."""
    if isinstance(value, str):
        for secret, mask in masks:
            value = value.replace(secret, mask)
        value = _PRIVATE_KEY.sub(lambda m: _masked(m.group(0)), value)
        if len(value) > 64 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value):
            try:
                if b"PRIVATE KEY" in base64.b64decode(value):
                    return _masked(value)
            except ValueError:
                pass
        return value
    if isinstance(value, list):
        return [_mask(v, masks) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, masks) for k, v in value.items()}
    return value


def _provider_urn(reference: str) -> str:
    return reference.rsplit("::", 1)[0] if reference else ""


def snapshot(run: ProgramRun) -> dict[str, Any]:
    """A normalized, secret-free JSON view of the registered graph."""
    if run.error is not None:
        raise run.error
    # Every rendered form of every secret, longest first, so a form that contains another is masked whole.
    forms = {form: _masked(secret) for secret in run.secret_values if secret for form in _forms(secret)}
    secrets = sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)
    resources = []
    for r in sorted(run.resources, key=lambda r: r.urn):
        resources.append(
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "custom": r.custom,
                "parent": r.parent,
                "provider": _provider_urn(r.provider),
                "dependencies": sorted(set(r.dependencies)),
                "options": {
                    "protect": r.protect,
                    "retainOnDelete": r.retain_on_delete,
                    "deleteBeforeReplace": r.delete_before_replace,
                    "replaceOnChanges": sorted(r.replace_on_changes),
                    "ignoreChanges": sorted(r.ignore_changes),
                },
                "inputs": _mask(r.inputs, secrets),
                "secretInputs": sorted(r.secret_inputs),
            }
        )
    return {"stack": run.stack, "resources": resources, "outputs": _mask(run.outputs, secrets)}


def dumps(snap: Mapping[str, Any]) -> str:
    return json.dumps(snap, indent=1, sort_keys=True) + "\n"


def stack_snapshot(
    stack: str, overrides: Mapping[str, Any] | None = None, secrets: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`secrets`: values set as with `pulumi config set --secret KEY VALUE`."""
    return snapshot(run_program(stack, overrides, secrets=secrets))


# ---------------------------------------------------------------- diff


@dataclass
class Change:
    urn: str
    type: str
    name: str
    action: str  # create | replace | update | delete
    keys: list[str] = field(default_factory=list)  # top-level inputs that changed
    replace_keys: list[str] = field(default_factory=list)  # the ones forcing replacement
    note: str = ""
    wave: int = 0
    secret: bool = False  # a secret it carries changed (a password rotation)


# Updates in place that stop and start the machine the whole cluster runs on (every node down at
# once), by the top-level input that changes; a replacement of the machine does the same.
HOST_RESTARTS: dict[str, tuple[str, ...]] = {c.machine_type: c.restart_inputs for c in CLOUDS.values()}


# What runs a node container: a Docker container, or on Kubernetes its one-pod StatefulSet.
NODE_WORKLOADS = ("docker:index/container:Container", "kubernetes:apps/v1:StatefulSet")


@dataclass(frozen=True)
class Layout:
    """Where the logical nodes run, from a snapshot's `nodes` and `faultBudget` outputs."""

    nodes: dict[str, tuple[str, int]]  # container -> (group, logical nodes in it)
    fault_budget: int | None

    @classmethod
    def of(cls, snap: Mapping[str, Any]) -> Layout:
        outputs = snap.get("outputs", {})
        nodes: dict[str, tuple[str, int]] = {}
        for node in (outputs.get("nodes") or {}).values():
            group, count = nodes.get(node["container"], (node["group"], 0))
            nodes[node["container"]] = (group, count + 1)
        return cls(nodes, outputs.get("faultBudget"))

    def total(self, group: str) -> int:
        return sum(n for g, n in self.nodes.values() if g == group)


@dataclass
class Plan:
    changes: list[Change]
    unchanged: int
    layout: Layout = field(default_factory=lambda: Layout({}, None))

    def host_restarts(self) -> list[Change]:
        """Changes that stop or replace the machine the cluster runs on."""
        return [
            c
            for c in self.changes
            if c.type in HOST_RESTARTS
            and (c.action in ("replace", "delete") or set(c.keys) & set(HOST_RESTARTS[c.type]))
        ]

    def most_down(self) -> dict[str, int]:
        """group -> the most of its logical nodes that the node containers' replacements take down
        at once: the replaced containers of one wave run together, waves one after another."""
        per_wave: dict[tuple[str, int], int] = {}
        for c in self.of("replace"):
            if c.type in NODE_WORKLOADS and c.name in self.layout.nodes:
                group, count = self.layout.nodes[c.name]
                per_wave[(group, c.wave)] = per_wave.get((group, c.wave), 0) + count
        out: dict[str, int] = {}
        for (group, _), count in per_wave.items():
            out[group] = max(out.get(group, 0), count)
        return out

    def availability(self) -> list[str]:
        """What an operator asks first: how many nodes are down at once, against f."""
        lines = []
        most_down = self.most_down()
        for group, down in sorted(
            most_down.items(),
            key=lambda item: GROUP_NAMES.index(item[0]) if item[0] in GROUP_NAMES else len(GROUP_NAMES),
        ):
            budget = f" (f = {self.layout.fault_budget})" if group == "validator" else ""
            lines.append(f"at most {down} of {self.layout.total(group)} {group} nodes down at once{budget}")
        restarts = self.host_restarts()
        if restarts:
            validators = self.layout.total("validator")
            what = ", ".join(f"{c.name} ({c.action}: {', '.join(c.keys) or 'the machine'})" for c in restarts)
            lines.append(
                f"the whole host restarts: all {validators} validator nodes down at once, every other node too ({what})"
            )
            if most_down:
                lines.append(
                    "WARNING: the host restart rides along with node container replacements; the waves "
                    "give no protection then: apply the two changes in separate `pulumi up` runs"
                )
        return lines

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def counts(self) -> dict[str, int]:
        return {a: len(self.of(a)) for a in ACTIONS} | {"same": self.unchanged}

    def names(self, action: str, type_token: str | None = None) -> set[str]:
        return {c.name for c in self.of(action) if type_token is None or c.type == type_token}

    def waves(self) -> list[list[str]]:
        """Replaced resources by the wave in which `pulumi up` reaches them."""
        replaced = self.of("replace")
        if not replaced:
            return []
        out: list[list[str]] = [[] for _ in range(max(c.wave for c in replaced))]
        for c in sorted(replaced, key=lambda c: c.name):
            out[c.wave - 1].append(c.name)
        return [w for w in out if w]

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "waves": self.waves(),
            "mostNodesDown": self.most_down(),
            "faultBudget": self.layout.fault_budget,
            "hostRestarts": [c.name for c in self.host_restarts()],
            "changes": [c.__dict__ for c in sorted(self.changes, key=lambda c: (ACTIONS.index(c.action), c.urn))],
        }


def _changed_paths(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if type(old) is not type(new):
        return [path]
    if isinstance(old, dict):
        out: list[tuple[str, ...]] = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                out.append(path + (key,))
            else:
                out += _changed_paths(old[key], new[key], path + (key,))
        return out
    if isinstance(old, list):
        if len(old) != len(new):
            return [path]
        out = []
        for a, b in zip(old, new, strict=False):
            out += _changed_paths(a, b, path + ("*",))
        return out
    return [] if old == new else [path]


_SECRET_TOKEN = re.compile(r"\[secret:[0-9a-f]{8}\]")


def _decide(old: dict, new: dict, rules: Mapping[str, list[tuple[str, ...]]]) -> Change | None:
    ignored = [tuple(p.split(".")) for p in new["options"].get("ignoreChanges", [])]
    paths = [
        p
        for p in _changed_paths(old["inputs"], new["inputs"])
        if not any(replace_paths.prefix_matches(i, p) for i in ignored)
    ]
    provider_changed = old["provider"] != new["provider"]
    if not paths and not provider_changed:
        return None
    flagged = rules.get(new["type"], [])
    replace_on = new["options"]["replaceOnChanges"]
    replace_keys = sorted(
        {p[0] for p in paths if replace_paths.forces_replace(flagged, p) or "*" in replace_on or p[0] in replace_on}
    )
    if provider_changed:
        replace_keys.append("(provider)")
    keys = sorted({p[0] for p in paths})
    action = "replace" if replace_keys else "update"
    note = ""
    if action == "replace":
        opts = old["options"]
        note = (
            "PROTECTED: the engine refuses to replace it and `pulumi up` fails; nothing is lost"
            if opts.get("protect")
            else "RETAINED: the old one stays on the host, out of the stack, and a new empty one is created"
            if opts.get("retainOnDelete")
            else "delete before replace"
            if new["options"]["deleteBeforeReplace"]
            else ""
        )
    secret = any(
        _SECRET_TOKEN.findall(json.dumps(old["inputs"].get(k)))
        != _SECRET_TOKEN.findall(json.dumps(new["inputs"].get(k)))
        for k in keys
    )
    return Change(new["urn"], new["type"], new["name"], action, keys, replace_keys, note, secret=secret)


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], rules: Mapping[str, list[tuple[str, ...]]] | None = None
) -> Plan:
    """The plan that takes the graph `old` to `new` (custom resources; components do nothing)."""
    rules = rules if rules is not None else replace_paths.load()
    before = {r["urn"]: r for r in old["resources"] if r["custom"]}
    after = {r["urn"]: r for r in new["resources"] if r["custom"]}
    changes: list[Change] = []
    unchanged = 0
    for urn, r in after.items():
        if urn not in before:
            changes.append(Change(urn, r["type"], r["name"], "create"))
            continue
        change = _decide(before[urn], r, rules)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    for urn, r in before.items():
        if urn not in after:
            opts = r["options"]
            note = (
                "refused while protected: lift `protect` first"
                if opts["protect"]
                else "retained on the host, out of the stack"
                if opts["retainOnDelete"]
                else ""
            )
            changes.append(Change(urn, r["type"], r["name"], "delete", note=note))
    _assign_waves(changes, after)
    return Plan(changes, unchanged, Layout.of(new))


def _assign_waves(changes: list[Change], graph: Mapping[str, dict]) -> None:
    """A resource's step waits for its dependencies' steps, changed or not; so a wave is the
    number of changing resources on the longest dependency chain ending in it."""
    changing = {c.urn: c for c in changes if c.action != "delete"}
    level: dict[str, int] = {}

    def depth(urn: str) -> int:
        if urn not in level:
            deps = graph.get(urn, {}).get("dependencies", [])
            level[urn] = max((depth(d) for d in deps if d in graph), default=0) + (1 if urn in changing else 0)
        return level[urn]

    for urn, change in changing.items():
        change.wave = depth(urn)


def render(plan: Plan, title: str) -> str:
    counts = plan.counts()
    lines = [title, "  " + "   ".join(f"{a} {counts[a]}" for a in (*ACTIONS, "same")), ""]
    for action in ACTIONS:
        group = sorted(plan.of(action), key=lambda c: c.urn)
        if not group:
            continue
        lines.append(f"{action} ({len(group)}):")
        for c in group:
            detail = ""
            if c.action == "replace":
                detail = f"  [{', '.join(c.replace_keys)}]"
            elif c.action == "update":
                detail = f"  [{', '.join(c.keys)}]"
            note = f"  ({c.note})" if c.note else ""
            lines.append(f"  {c.type.split(':')[-1]:<16} {c.name}{detail}{note}")
        lines.append("")
    rotated = sorted(c.name for c in plan.changes if c.secret and c.action in ("replace", "update"))
    if rotated:
        lines += ["a changed secret (password rotation) reaches: " + ", ".join(rotated), ""]
    waves = plan.waves()
    if waves:
        lines.append("replacement waves (each waits for the one before to turn healthy):")
        lines += [f"  wave {i}: {', '.join(w)}" for i, w in enumerate(waves, start=1)]
        lines.append("")
    lines += plan.availability()
    if not plan.changes:
        lines.append("no changes")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- summary


def summary(snap: Mapping[str, Any]) -> str:
    """What a stack deploys, readable in a terminal: resources per group and type, the node
    containers' rollout waves, and the capacity plan."""
    custom = [r for r in snap["resources"] if r["custom"] and not r["type"].startswith("pulumi:providers:")]
    by_group: dict[str, dict[str, int]] = {}
    for r in custom:
        group = (
            "(stack)"
            if r["parent"].split("::")[-2].endswith("pulumi:pulumi:Stack")
            else r["parent"].rsplit("::", 1)[-1]
        )
        kinds = by_group.setdefault(group, {})
        kind = r["type"].split(":")[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    lines = [f"stack {snap['stack']}: {len(custom)} resources", "", f"{'component':<16} resources"]
    for group in sorted(by_group):
        counted = ", ".join(f"{n} {k}" for k, n in sorted(by_group[group].items()))
        lines.append(f"{group:<16} {counted}")
    containers = {r["urn"]: r for r in custom if r["type"] in NODE_WORKLOADS}
    changes = [Change(urn, r["type"], r["name"], "replace") for urn, r in containers.items()]
    _assign_waves(changes, {r["urn"]: r for r in snap["resources"]})
    groups: dict[str, dict[int, list[str]]] = {}
    for c in changes:
        group = containers[c.urn]["parent"].rsplit("::", 1)[-1]
        groups.setdefault(group, {}).setdefault(c.wave, []).append(c.name)
    lines += ["", "rollout waves of an image change (each waits for the one before to turn healthy):"]
    for group in ("validator", "business", "slim"):
        if group in groups:
            waves = [", ".join(sorted(groups[group][w])) for w in sorted(groups[group])]
            lines.append(f"  {group:<10} {len(waves)} waves: " + " | ".join(waves))
    outputs = snap.get("outputs", {})
    lines += kubernetes_lines(outputs)
    capacity = outputs.get("capacity", {})
    if capacity:
        host = (
            f"{capacity.get('hostCpus')} CPUs, {capacity.get('hostMemoryMb')} MB"
            if capacity.get("hostCpus")
            else "the cluster's nodes (requests are the limits over the overcommit ratios)"
            if outputs.get("kubernetes")
            else "not known before deploy (local daemon)"
        )
        lines += [
            "",
            f"capacity: {capacity.get('containers')} containers limited to {capacity.get('containerCpus')} "
            f"CPUs and {capacity.get('containerMemoryMb')} MB; host {host}; overcommit "
            f"cpu {capacity.get('cpuOvercommit')}, memory {capacity.get('memoryOvercommit')}",
        ]
    return "\n".join(lines) + "\n"


def kubernetes_lines(outputs: Mapping[str, Any]) -> list[str]:
    """Target kubernetes: the disruption budgets, and what the worst single zone's loss takes down."""
    k = outputs.get("kubernetes")
    if not k:
        return []
    budgets = ", ".join(f"{g} {k['disruptionBudgets'][g]}" for g in GROUP_NAMES if g in k["disruptionBudgets"])
    loss = k["worstZoneLoss"]
    f = outputs.get("faultBudget")
    verdict = "within f" if loss["validator"] <= f else "ABOVE f: one zone's loss costs the validators their quorum"
    return [
        "",
        f"disruption budgets (pods evicted at once, at most): {budgets}",
        f"worst single-zone loss over {k['zones']} zones: {loss['validator']} validator nodes (f = {f}, {verdict}); "
        + ", ".join(f"{g} {loss[g]}" for g in GROUP_NAMES if g in loss and g != "validator"),
    ]


# ---------------------------------------------------------------- CLI


def _parse_set(items: list[str]) -> dict[str, Any]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set expects PATH=VALUE, got {item!r}")
        try:
            parse_path(key)
        except PathError as e:
            raise UsageError(f"--set {item!r}: {e}") from None
        overrides[key] = yaml.safe_load(value) if value else ""  # 4 -> int, true -> bool, text stays text
    return overrides


def _parse_secrets(items: list[str]) -> dict[str, str]:
    """--set-secret KEY=VALUE: never echoed, not even in an error."""
    secrets = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"--set-secret expects KEY=VALUE (key {key or '?'!r}; the value is not shown)")
        secrets[key] = value
    return secrets


def _resolve_other(other: str, stack: str) -> tuple[dict[str, Any], str]:
    path = Path(other)
    if path.is_file():
        try:
            snap = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"--diff {other}: not a readable snapshot ({e})") from None
        if not isinstance(snap, dict) or not isinstance(snap.get("resources"), list):
            raise UsageError(f"--diff {other}: not a snapshot (no resources list); make one with --out")
        return snap, f"snapshot {other}"
    if other in stack_names():
        run = run_program(other)
        if run.error is not None:
            raise UsageError(f"--diff {other}: {run.error}")
        return snapshot(run), f"stack {other}"
    try:
        committed = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{other}:snapshots/{stack}.json"], capture_output=True, text=True
        )
    except FileNotFoundError:
        raise UsageError(
            f"--diff {other!r}: not a snapshot file or a stack, and git (to read a ref) is not installed"
        ) from None
    if committed.returncode == 0:
        return json.loads(committed.stdout), f"git {other}"
    raise UsageError(
        f"--diff {other!r}: not a snapshot file, a stack ({', '.join(stack_names())}) "
        f"or a git ref with snapshots/{stack}.json"
    )


def committed_snapshot_of(stack: str) -> dict[str, Any]:
    """What snapshots/<stack>.json holds: the stack's graph, placeholders filled with the examples."""
    return stack_snapshot(stack, fills_for(stack))


def update_snapshots() -> list[str]:
    SNAPSHOTS.mkdir(exist_ok=True)
    for stack in stack_names():
        (SNAPSHOTS / f"{stack}.json").write_text(dumps(committed_snapshot_of(stack)))
    return stack_names()


def main(argv: list[str] | None = None) -> int:
    parser = ToolParser(
        prog="python -m tools.plan",
        description=__doc__.split("\n\n")[0],
        epilog=f"exit codes: 0 done, 1 the stack's config is invalid, {EXIT_USAGE} bad arguments or input",
    )
    parser.add_argument("stack", nargs="?", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="a config change to plan, as with `pulumi config set --path` (repeatable)",
    )
    parser.add_argument(
        "--set-secret",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a secret's new value, as with `pulumi config set --secret` (a rotation); kept in "
        "memory and masked, never written (repeatable)",
    )
    parser.add_argument("--diff", metavar="OTHER", help="plan going from OTHER (snapshot file, stack or git ref)")
    parser.add_argument("--out", metavar="FILE", help="write the snapshot JSON here")
    parser.add_argument("--json", action="store_true", help="print the snapshot (or with --diff, the plan) as JSON")
    parser.add_argument(
        "--example-fills",
        action="store_true",
        help="fill the stack's PLACEHOLDERs with tools/fills.py's example values (as the snapshots are)",
    )
    parser.add_argument(
        "--update-snapshots", action="store_true", help="rewrite snapshots/<stack>.json for every stack"
    )
    args = parser.parse_args(argv)
    if args.update_snapshots:
        print("updated: " + ", ".join(f"snapshots/{s}.json" for s in update_snapshots()))
        return 0
    if not args.stack:
        parser.error("a stack is required (or --update-snapshots)")
    if args.stack not in stack_names():
        parser.error(f"no stack {args.stack!r}; stacks: {', '.join(stack_names())}")
    return run_tool("plan", lambda: _plan(args))


def _plan(args) -> int:
    overrides = {**(fills_for(args.stack) if args.example_fills else {}), **_parse_set(args.set)}
    run = run_program(args.stack, overrides, secrets=_parse_secrets(args.set_secret))
    if run.error is not None:
        print(f"plan: {run.error}", file=sys.stderr)
        return 1
    new = snapshot(run)
    if args.out:
        write_file(args.out, dumps(new))
    if not args.diff:
        if args.json:
            sys.stdout.write(dumps(new))
        elif not args.out:
            sys.stdout.write(summary(new))
        return 0
    old, origin = _resolve_other(args.diff, args.stack)
    plan = diff(old, new)
    told = args.set + [f"{item.partition('=')[0]}=[secret]" for item in args.set_secret]
    changes = f" with {', '.join(told)}" if told else ""
    if args.json:
        print(json.dumps(plan.to_json(), indent=1))
    else:
        sys.stdout.write(render(plan, f"plan for stack {args.stack}{changes}, from {origin}:"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
