"""Run the real program (`__main__.py`) under Pulumi's mocks, fed a real stack file.

Config reaches the program exactly as the `pulumi` CLI hands it over: project-level defaults
from Pulumi.yaml, overridden by `Pulumi.<stack>.yaml`, every value a string (structured
values JSON-encoded), installed with `pulumi.runtime.set_all_config`. The program then runs
inside `run_in_stack`, as the Python language host runs it, and a recording resource monitor
keeps every registration request whole: inputs, options, dependencies, provider, and the
stack's outputs.

Used by the tests and by `python -m tools.plan`; there is no other way the program is driven.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import collections
import copy
import dataclasses
import hashlib
import json
import re
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import run_in_stack

import pulumi_adapter as sdk
from model.clouds import CLOUDS

REPO = Path(__file__).resolve().parent.parent
PROJECT = "aurigraph-cluster"
# What a `secure:` value from a stack file decrypts to under the mocks (no passphrase here).
SECURE_PLACEHOLDER = "decrypted-secret-placeholder"


def stack_names(root: Path = REPO) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def stack_target(stack: str, root: Path = REPO) -> str:
    """The stack file's target (Pulumi.yaml's default, local, when it sets none)."""
    config = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text()).get("config") or {}
    return str(config.get(f"{PROJECT}:target", "local"))


def deployable_stacks(root: Path = REPO) -> list[str]:
    """Stacks that evaluate as committed: those whose file has no PLACEHOLDER left to fill."""
    return [s for s in stack_names(root) if "PLACEHOLDER" not in (root / f"Pulumi.{s}.yaml").read_text()]


def _full_key(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def _encode(value: Any) -> str:
    """A config value as the CLI passes it to a program: strings as-is, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


class PathError(ValueError):
    """A config path that `pulumi config set --path` would not accept."""


_PATH_TOKEN = re.compile(r'\.([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> list[str | int]:
    """`pulumi config set --path` grammar: `key`, `.name`, `[0]` and `["quoted.key"]` segments.

    'vm.adminCidrs[0]' -> ['vm', 'adminCidrs', 0]; 'groups["validator"].image' -> ['groups', 'validator', 'image'].
    The first segment may carry a namespace ('aws:region').
    """
    head = re.match(r'[^.\[\]"]+', path)
    if not head:
        raise PathError(f"config path {path!r} must start with a key")
    segments: list[str | int] = [head.group(0)]
    pos = head.end()
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m:
            raise PathError(f'config path {path!r}: cannot read {path[pos:]!r} (use .key, [0] or ["key"])')
        name, index, quoted = m.groups()
        segments.append(
            int(index) if index is not None else name if name is not None else re.sub(r"\\(.)", r"\1", quoted)
        )
        pos = m.end()
    return segments


class _Null:
    """A config value of null, as a stack file's `key: null` (or `~`) gives it to the program."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Like `pulumi config set --path PATH VALUE`: 'groups.validator.image', 'vm.adminCidrs[0]'.

    A value of None removes the key, like `pulumi config rm --path`; NULL sets it to null, as a
    stack file can. An index one past the end of a list appends, as the CLI does.
    """
    remove = value is None
    value = None if value is NULL else value
    segments = parse_path(path)
    key = _full_key(str(segments[0]))
    if len(segments) == 1:
        if remove:
            values.pop(key, None)
        else:
            values[key] = value
        return
    if isinstance(values.get(key), str):
        values[key] = json.loads(values[key])
    parent: Any = values
    slot: str | int = key
    for segment in segments[1:]:
        container = parent[slot] if _has(parent, slot) else None
        if container is None:
            container = [] if isinstance(segment, int) else {}
            _put(parent, slot, container, path)
        if isinstance(segment, int) != isinstance(container, list):
            raise PathError(
                f"config path {path!r}: {segment!r} does not index a {'list' if isinstance(container, list) else 'map'}"
            )
        parent, slot = container, segment
    if remove:
        if _has(parent, slot):
            parent.pop(slot)
    else:
        _put(parent, slot, value, path)


def _has(container: Any, slot: str | int) -> bool:
    if isinstance(container, list):
        return isinstance(slot, int) and slot < len(container)
    return slot in container


def _put(container: Any, slot: str | int, value: Any, path: str) -> None:
    if isinstance(container, list):
        assert isinstance(slot, int)  # parse_path gives list slots as ints
        if slot > len(container):
            raise PathError(f"config path {path!r}: index {slot} is past the end of a list of {len(container)}")
        if slot == len(container):
            container.append(value)
            return
    container[slot] = value


def stack_config(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    root: Path = REPO,
    secrets: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The config map and secret keys `pulumi` would hand the program for this stack.

    `secrets`: values set as with `pulumi config set --secret KEY VALUE`.
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    values: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict):
            if "default" in decl:
                values[_full_key(key)] = decl["default"]
            elif "value" in decl:
                values[_full_key(key)] = decl["value"]
        else:
            values[_full_key(key)] = decl

    secret_keys: list[str] = []
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file.name}")
    for key, value in ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECURE_PLACEHOLDER
            secret_keys.append(_full_key(key))
        values[_full_key(key)] = copy.deepcopy(value)

    for path, value in (overrides or {}).items():
        set_path(values, path, value)
    for key, value in (secrets or {}).items():
        values[_full_key(key)] = value
        secret_keys.append(_full_key(key))
    return {k: _encode(v) for k, v in values.items()}, secret_keys


def stack_settings(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    root: Path = REPO,
    secrets: Mapping[str, str] | None = None,
):
    """The validated Settings the program would build for this stack (no Pulumi runtime needed)."""
    from model.settings import parse_settings

    config, secret_keys = stack_config(stack, overrides, root, secrets)
    prefix = f"{PROJECT}:"
    return parse_settings(
        {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)},
        stack,
        frozenset(k[len(prefix) :] for k in secret_keys),
        {k: v for k, v in config.items() if not k.startswith(prefix)},
    )


def stack_plan(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    root: Path = REPO,
    secrets: Mapping[str, str] | None = None,
):
    """The rollout and capacity plan the program would make for this stack."""
    from model.planning import make_plan
    from model.topology import build_topology

    settings = stack_settings(stack, overrides, root, secrets)
    return make_plan(settings, build_topology(settings))


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    # Input property names whose value is (or contains) a Pulumi secret.
    secret_inputs: set[str]
    parent: str
    provider: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    replace_on_changes: list[str]
    ignore_changes: list[str]


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Output names whose value is (or contains) a secret.
    secret_outputs: set[str] = field(default_factory=set)
    logs: list[tuple[str, str]] = field(default_factory=list)
    # Every secret value the run saw (configured secrets, generated passwords), for masking.
    secret_values: set[str] = field(default_factory=set)
    # Provider functions the program invoked: (token, arguments).
    invokes: list[tuple[str, dict]] = field(default_factory=list)
    error: BaseException | None = None

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str, type_token: str | None = None) -> Registration:
        matches = [r for r in self.resources if r.name == name and (type_token is None or r.type == type_token)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r} (type {type_token})")
        return matches[0]


def _contains_secret(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get(sdk.SECRET_SIGNATURE_KEY) == sdk.SECRET_SIGNATURE:
            return True
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(sdk.SECRET_SIGNATURE_KEY) == sdk.SECRET_SIGNATURE:
            return _unwrap(value.get("value"))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # A protobuf Struct carries every number as a double; the program sent an int.
        return int(value)
    return value


def _plain(struct) -> dict[str, Any]:
    """A protobuf Struct as plain JSON-like data, secrets still wrapped in their signature."""
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as state, plus the computed outputs the program reads back."""

    def __init__(self, run: ProgramRun):
        super().__init__()
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            digest = hashlib.sha256(str(args.inputs.get("name")).encode()).hexdigest()
            state["imageId"] = f"sha256:{digest}"
            state["repoDigest"] = f"{args.inputs.get('name')}@sha256:{digest}"
        # Computed outputs of the cloud resources the program reads back: each cloud declares its
        # own (model/clouds/<cloud>.py, mock_outputs).
        for cloud in CLOUDS.values():
            for key, value in _filled(cloud.mock_outputs.get(args.typ, {}), args.name, args.inputs).items():
                state[key] = (
                    {**value, **state[key]}
                    if isinstance(value, dict) and isinstance(state.get(key), dict)
                    else state.get(key, value)
                )
        if args.typ.startswith("kubernetes:") and not (state.get("metadata") or {}).get("name"):
            # The provider names an object left without a name `<resource name>-<8 random
            # characters>`, anew when it replaces it; here the characters follow the inputs, so a
            # replaced ConfigMap or Secret gets a new name as it does for real.
            suffix = hashlib.sha256(json.dumps(args.inputs, sort_keys=True, default=str).encode()).hexdigest()[:8]
            state["metadata"] = {**(state.get("metadata") or {}), "name": f"{args.name}-{suffix}"}
        if args.typ == "random:index/randomBytes:RandomBytes":
            raw = hashlib.sha256(args.name.encode()).digest()[: int(args.inputs.get("length", 32))]
            state["base64"], state["hex"] = base64.b64encode(raw).decode(), raw.hex()
            self.run.secret_values.add(state["base64"])
        if args.typ == "random:index/randomPassword:RandomPassword":
            seed = hashlib.sha256(args.name.encode()).hexdigest()
            state["result"] = seed[: int(args.inputs.get("length", 32))]
            self.run.secret_values.add(state["result"])
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.run.invokes.append((args.token, dict(args.args)))
        return next((dict(c.mock_calls[args.token]) for c in CLOUDS.values() if args.token in c.mock_calls), {})


def _run_main(root: Path) -> None:
    runpy.run_path(str(root / "__main__.py"), run_name="__main__")


def _filled(template: Any, name: str, inputs: Mapping[str, Any]) -> Any:
    """A mock output template with `{name}` and `{<input>}` filled in (an absent input is empty)."""
    if isinstance(template, dict):
        return {k: _filled(v, name, inputs) for k, v in template.items()}
    if isinstance(template, str):
        fields = {k: v for k, v in inputs.items() if isinstance(v, str)}
        return template.format_map(collections.defaultdict(str, fields, name=name))
    return template


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, run: ProgramRun):
        super().__init__(mocks)
        self.run = run

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN: the parent's whole qualified type chain, without the root stack.

        (Pulumi's MockMonitor keeps only the parent's last type, so its URNs match no state.)
        """
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "::".join(["urn:pulumi:" + pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = _plain(request.object)
            self.run.resources.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    inputs=_unwrap(raw),
                    secret_inputs={k for k, v in raw.items() if _contains_secret(v)},
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    replace_on_changes=list(request.replaceOnChanges),
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            raw = _plain(request.outputs)
            self.run.outputs = _unwrap(raw)
            self.run.secret_outputs = {k for k, v in raw.items() if _contains_secret(v)}
        return super().RegisterResourceOutputs(request)


class _RecordingEngine(pulumi_mocks.MockEngine):
    def __init__(self, run: ProgramRun):
        super().__init__(None)
        self.run = run

    def Log(self, request):
        from google.protobuf import empty_pb2
        from pulumi.runtime.proto import engine_pb2

        # Recorded, not printed: the tools built on the runner report what matters themselves.
        self.run.logs.append((engine_pb2.LogSeverity.Name(request.severity), request.message))
        return empty_pb2.Empty()


def _close_event_loop() -> None:
    """Close the event loop the SDK ran the program on, before the interpreter tears down.

    Left to the garbage collector at exit, the loop and its self-pipe socket can be finalised in
    either order; socket first, and the loop's __del__ prints a traceback on stderr (seen when
    the demo stopped on Ctrl-C).
    """
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running() and not loop.is_closed():
        loop.close()


atexit.register(_close_event_loop)


# Evaluations already made, by everything that decides their outcome (the stack, its resolved
# config, which keys are secret, the program's directory, preview or not). Off (None) unless a
# caller that evaluates the same stack many times, such as the test suite, switches it on.
MEMO: dict[str, ProgramRun] | None = None


def run_program(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    preview: bool = False,
    root: Path = REPO,
    secrets: Mapping[str, str] | None = None,
) -> ProgramRun:
    """Evaluate `__main__.py` for `stack`; any error the program raises is kept in `.error`. With
    MEMO on, a repeat returns a copy of the first run (the error object itself is shared)."""
    config, secret_keys = stack_config(stack, overrides, root, secrets)
    if MEMO is None:
        return _evaluate(stack, config, secret_keys, root, preview)
    key = json.dumps([stack, config, sorted(secret_keys), str(root), preview], sort_keys=True, default=repr)
    if key not in MEMO:
        MEMO[key] = _evaluate(stack, config, secret_keys, root, preview)
    first = MEMO[key]
    return dataclasses.replace(
        first,
        **{
            f.name: copy.deepcopy(getattr(first, f.name))
            for f in dataclasses.fields(first)
            if f.name not in ("stack", "error")
        },
    )


def _evaluate(stack: str, config: dict[str, str], secret_keys: list[str], root: Path, preview: bool) -> ProgramRun:
    run = ProgramRun(stack=stack, secret_values={config[k] for k in secret_keys})

    sdk.reset_options(PROJECT, stack, preview)
    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = RecordingMocks(run)
    monitor = RecordingMonitor(mocks, run)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    sdk.install_test_engine(_RecordingEngine(run))
    # set_mocks installs a bare root stack; the language host instead runs the program inside
    # a fresh one whose outputs are the program's exports. Do as the language host does.
    sdk.fresh_root_stack()

    root_str = str(root)
    if root_str not in sys.path:
        sys.path.insert(0, root_str)
    try:
        sdk.sync_await(run_in_stack(lambda: _run_main(root)))
    except Exception as exc:  # the program's own error, kept for the caller to assert on
        run.error = exc
    return run
