"""A stand-in provider plugin for the engine tests: a TEST DOUBLE at the provider boundary.

`pulumi-resource-<name>` in tests/engine/bin runs this file for docker, random, command, aws,
azure-native and gcp. It speaks the real plugin protocol (gRPC ResourceProvider, with the
stubs that the pinned Python SDK ships) to the real Pulumi engine, so everything above the
provider boundary is real: config validation, secrets, the step generator, dependency
ordering, delete-before-replace, protect, retainOnDelete, policy packs.

What it does, each rule with its source in the table it reads:
- Check refuses what the provider or the cloud API refuses (schemas/constraints.json: names,
  descriptions, tags, labels, patterns, lengths, enums), in the terraform validators' words.
- Create, Read and Update hold the state the real provider would read back
  (schemas/readback.json: `cpus` "12" as "12.0", capabilities with CAP_, Docker's default
  swap, Go durations, ports by container port). Diff compares the new inputs with that state
  for docker (as the bridge does) and with the old inputs for the others, and asks for a
  replacement where the provider's schema marks the path `willReplaceOnChanges` (docker: the
  vendored pulumi-docker schema, see tests/schemas/README.md; the others:
  tools/cloud_replace_paths.json). Updates the provider refuses at apply are refused
  (`_update_refused`: a GCP machine type without allow_stopping_for_update).
- AURIGRAPH_STANDIN_FAIL names containers (shell patterns on the Docker name) whose Create
  fails as an unhealthy container's does, with the container kept (ErrorResourceInitFailed).
- Create, Update and Delete sleep for the time that AURIGRAPH_STANDIN_SECONDS gives
  ("0.5", or "docker:index/container:Container=2,*=0") and append one JSON line each to the
  file AURIGRAPH_STANDIN_TIMELINE: {"op", "urn", "type", "start", "end"}.
- Outputs are the (read-back) inputs plus stable computed values (ids, a password's `result`,
  an image id, a VM's address), all derived from the URN, so a second run computes the same.
- Invokes get canned answers (a Debian image for aws and gcp; AURIGRAPH_STANDIN_INVOKES
  overrides them). GetPluginInfo reports the version the installed SDK asks for.

What it does NOT prove: that Docker or any cloud accepts a value its tables do not cover, that
containers start or turn healthy, how long real operations take, the clouds' own read-back
(their state is the inputs plus computed values), defaults a provider fills in beyond the
tables, or drift on the host.
"""

from __future__ import annotations

import base64
import collections
import copy
import fnmatch
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
from model import readback  # noqa: E402  (the program's side of the read-back rules)
from model.clouds import CLOUDS  # noqa: E402  (each cloud's SDK)
from tools import replace_paths  # noqa: E402  (the plan tool's reading of the same schema flags)

# The SDK package of each provider this program uses: the stand-in takes the plugin name and
# version from its pulumi-plugin.json, as the language host reports them to the CLI. The
# providers every stack uses, then each cloud's (model/clouds: CloudSpec.sdk).
SDKS = ("pulumi_docker", "pulumi_random", "pulumi_command", *(cloud.sdk for cloud in CLOUDS.values()))


def plugin_versions() -> dict[str, str]:
    """Provider name -> the plugin version the installed SDK asks for."""
    import importlib.util

    out = {}
    for sdk in SDKS:
        spec = importlib.util.find_spec(sdk)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"standin: the {sdk} SDK is not installed (requirements.txt)")
        meta = json.loads((Path(spec.submodule_search_locations[0]) / "pulumi-plugin.json").read_text())
        out[meta["name"]] = meta["version"]
    return out


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker for a value not known in preview


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _ip(urn: str) -> str:
    """A stable address in TEST-NET-3 (RFC 5737), never a routable one."""
    return f"203.0.113.{int(_digest(urn, 'ip')[:4], 16) % 250 + 1}"


def computed_outputs(token: str, urn: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The values a real provider computes, made stable from the URN."""
    h = _digest(urn)
    out: dict[str, Any] = {}
    if token == "random:index/randomPassword:RandomPassword":
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        n = int(inputs.get("length") or 16)
        out["result"] = "".join(alphabet[int(h[(2 * i) % 64 : (2 * i) % 64 + 2], 16) % len(alphabet)] for i in range(n))
        out["bcryptHash"] = "$2a$10$" + h[:53]
    elif token == "random:index/randomBytes:RandomBytes":
        raw = bytes.fromhex(h)[: int(inputs.get("length") or 32)]
        out["base64"], out["hex"] = base64.b64encode(raw).decode(), raw.hex()
    elif token == "aws:ec2/subnet:Subnet" and not inputs.get("availabilityZone"):
        out["availabilityZone"] = "eu-west-1a"
    elif token == "docker:index/remoteImage:RemoteImage":
        out["imageId"] = "sha256:" + _digest(str(inputs.get("name")))
        out["repoDigest"] = f"{inputs.get('name')}@sha256:{_digest(str(inputs.get('name')), 'repo')}"
    elif token == "docker:index/volume:Volume":
        out["mountpoint"] = f"/var/lib/docker/volumes/{inputs.get('name')}/_data"
        out["driver"] = "local"
    elif token == "docker:index/container:Container":
        out["containerLogs"] = ""
        out["exitCode"] = 0
    elif token.startswith("command:remote:Command"):
        out["stdout"] = "docker ready"
        out["stderr"] = ""
    elif token in ("aws:ec2/eip:Eip",):
        out["publicIp"] = _ip(urn)
    elif token == "aws:ec2/keyPair:KeyPair":
        out["keyName"] = inputs.get("keyName") or f"key-{h[:8]}"
    elif token in ("gcp:compute/address:Address",):
        out["address"] = _ip(urn)
        out["selfLink"] = f"https://compute.example/{h[:12]}"
    elif token == "azure-native:network:PublicIPAddress":
        out["ipAddress"] = _ip(urn)
    elif token == "aws:s3/bucket:Bucket":
        out["bucket"] = inputs.get("bucket") or f"{inputs.get('bucketPrefix', '')}{h[:12]}"
        out["arn"] = f"arn:aws:s3:::{out['bucket']}"
    elif token == "azure-native:dataprotection:BackupVault":
        out["identity"] = {**(inputs.get("identity") or {}), "principalId": f"{h[:8]}-standin-principal"}
    name = urn.split("::")[-1]
    # What the real providers name and identify when the program does not (their autonaming).
    if token.startswith("aws:"):
        out.setdefault("arn", f"arn:aws:standin:::{token.split(':')[-1].lower()}/{h[:12]}")
        if token.startswith("aws:iam/"):
            out.setdefault("name", inputs.get("name") or f"{name}-{h[:7]}")
    if token.startswith("gcp:"):
        out.setdefault("selfLink", f"https://compute.example/{h[:12]}")
        out.setdefault("name", inputs.get("name") or f"{name}-{h[:7]}")
    if token.startswith("azure-native:"):
        out.setdefault("name", name)
    return out


INVOKES: dict[str, dict[str, Any]] = {
    "aws:ec2/getAmi:getAmi": {
        "id": "ami-0standin0debian12",
        "imageId": "ami-0standin0debian12",
        "name": "debian-12-amd64-20240101-0000",
        "architecture": "x86_64",
    },
    "gcp:compute/getImage:getImage": {
        "id": "projects/debian-cloud/global/images/debian-12-standin",
        "name": "debian-12-standin",
        "family": "debian-12",
        "selfLink": "https://compute.example/projects/debian-cloud/global/images/debian-12-standin",
    },
}


def load_replace_paths(provider: str) -> dict[str, list[tuple[str, ...]]]:
    """type token -> paths whose change forces a replacement, from the provider's schema."""
    if provider == "docker":
        schema = json.loads((REPO / "tests" / "schemas" / "pulumi-docker-schema.json").read_text())
        table = replace_paths.derive(schema)
    else:
        table = replace_paths.cloud_table()[provider]
    return {token: [tuple(p.split(".")) for p in paths] for token, paths in table.items()}


def _changed_paths(old: Any, new: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], str]]:
    """Yield (path, kind) for every difference; kind is ADD, DELETE or UPDATE. Lists compare by index."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old:
                yield prefix + (key,), "ADD"
            elif key not in new:
                yield prefix + (key,), "DELETE"
            else:
                yield from _changed_paths(old[key], new[key], prefix + (key,))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            yield from _changed_paths(a, b, prefix + (str(i),))
    elif old != new:
        yield prefix, "UPDATE"


def _flagged(flags: list[tuple[str, ...]], path: tuple[str, ...]) -> bool:
    generic = tuple("*" if p.isdigit() else p for p in path)
    return any(replace_paths.prefix_matches(f, generic) or replace_paths.prefix_matches(generic, f) for f in flags)


def _dotted(path: tuple[str, ...]) -> str:
    return "".join(f"[{p}]" if p.isdigit() else (f".{p}" if i else p) for i, p in enumerate(path))


def _seconds(token: str) -> float:
    spec = os.environ.get("AURIGRAPH_STANDIN_SECONDS", "").strip()
    if not spec:
        return 0.0
    if "=" not in spec:
        return float(spec)
    table = dict(item.split("=", 1) for item in spec.split(",") if item)
    return float(table.get(token, table.get("*", 0)))


_timeline_lock = threading.Lock()


def _token(urn: str) -> str:
    """The type token of a URN (urn:pulumi:stack::project::parent$type::name)."""
    return urn.split("::")[-2].split("$")[-1]


def _operate(op: str, urn: str) -> None:
    """Take the configured time, then record the operation on the timeline."""
    start = time.time()
    time.sleep(_seconds(_token(urn)))
    path = os.environ.get("AURIGRAPH_STANDIN_TIMELINE")
    if path:
        line = json.dumps({"op": op, "urn": urn, "type": _token(urn), "start": start, "end": time.time()}) + "\n"
        with _timeline_lock, open(path, "a", encoding="utf-8") as f:
            f.write(line)  # one short append per operation: concurrent plugins never interleave lines


def _struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def _dict(s: struct_pb2.Struct) -> dict[str, Any]:
    return MessageToDict(s, preserving_proto_field_name=True) if s is not None else {}


# ------------------------------------------------------------------ read-back (schemas/readback.json)

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?")


def _go_duration(text: str) -> str:
    """A whole-second duration as Docker keeps it and Go prints it back ("1m" -> "1m0s")."""
    match = _DURATION.fullmatch(text)
    if not match or not text:
        return text  # not a whole-second form: left as it is (the provider would refuse most)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return readback.go_duration(hours * 3600 + minutes * 60 + seconds)


# rule -> what the real provider's state holds for a configured value (None: nothing configured).
_VALUE_RULES = {
    "as-given": lambda v: v,
    "not-read": lambda v: v,
    "nano-cpus": lambda v: readback.read_cpus(readback.nano_cpus(v)) if isinstance(v, str) and v else v,
    "cap-prefix": lambda v: [readback.capability(x) for x in v] if isinstance(v, list) else v,
    "go-duration": lambda v: _go_duration(v) if isinstance(v, str) else v,
    "sorted-by-internal": lambda v: sorted(v, key=lambda p: p.get("internal", 0)) if isinstance(v, list) else v,
}


def load_readback() -> dict[str, dict[str, dict[str, str]]]:
    table = json.loads((HERE / "schemas" / "readback.json").read_text())
    return {token: rules for token, rules in table.items() if not token.startswith("_")}


READBACK = load_readback()


def read_back(token: str, props: dict[str, Any]) -> dict[str, Any]:
    """The state the real provider holds after it read `props` back from Docker."""
    rules = READBACK.get(token)
    if not rules:
        return props
    out = copy.deepcopy(props)
    for path, entry in rules.items():
        rule = entry["rule"]
        if rule == "swap-default":
            # Docker fills memory swap in as twice the memory when it is not set (moby adaptContainerSettings).
            if not out.get(path) and out.get("memory"):
                out[path] = 2 * int(out["memory"])
            continue
        *parents, leaf = path.split(".")
        holder: Any = out
        for key in parents:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and leaf in holder:
            holder[leaf] = _VALUE_RULES[rule](holder[leaf])
    return out


def state_as_inputs(token: str, state: dict[str, Any], old_inputs: dict[str, Any]) -> dict[str, Any]:
    """The read-back state in the shape of the inputs: what the bridge's diff holds the new inputs
    against. A value Docker filled in for an unset Optional (memory swap) is part of it."""

    def project(st: Any, shape: Any) -> Any:
        if isinstance(st, dict) and isinstance(shape, dict):
            return {k: project(st[k], shape[k]) for k in shape if k in st}
        return st

    projected = project(state, old_inputs)
    for path, entry in READBACK.get(token, {}).items():
        if entry["rule"] == "swap-default" and state.get(path):
            projected[path] = state[path]
    return projected


# ------------------------------------------------------------------ validation (schemas/constraints.json)


def load_constraints() -> dict[str, dict[str, dict[str, Any]]]:
    table = json.loads((HERE / "schemas" / "constraints.json").read_text())
    return {token: rules for token, rules in table.items() if not token.startswith("_")}


CONSTRAINTS = load_constraints()


def constraints_for(token: str) -> dict[str, dict[str, Any]]:
    """A type's rules: those of its provider (`aws:*`) and its own."""
    return {**CONSTRAINTS.get(token.split(":")[0] + ":*", {}), **CONSTRAINTS.get(token, {})}


def _values_at(value: Any, path: list[str]) -> Iterable[Any]:
    """Every value at `path`, through lists."""
    if isinstance(value, list):
        for item in value:
            yield from _values_at(item, path)
    elif not path:
        yield value
    elif isinstance(value, dict) and path[0] in value:
        yield from _values_at(value[path[0]], path[1:])


def _violation(name: str, value: Any, rule: dict[str, Any]) -> str:
    """The terraform SDK validators' wording (validation.StringMatch, StringLenBetween, StringInSlice).
    A value not known yet (a preview's computed value) is not checked, as no provider can."""
    if not isinstance(value, str) or UNKNOWN in value:
        return ""
    if "enum" in rule and value not in rule["enum"]:
        return f"expected {name} to be one of {json.dumps(rule['enum'])}, got {value}"
    if "pattern" in rule and not re.search(rule["pattern"], value):
        return f"invalid value for {name} (expected to match regular expression {rule['pattern']!r}), got {value!r}"
    if len(value) > rule.get("maxLength", len(value)) or len(value) < rule.get("minLength", 0):
        return (
            f"expected length of {name} to be in the range ({rule.get('minLength', 0)} - "
            f"{rule.get('maxLength', 'any')}), got {value!r}"
        )
    return ""


def check_failures(token: str, inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for each input the real provider or its API would refuse."""
    failures = []
    for path, rule in constraints_for(token).items():
        for value in _values_at(inputs, path.split(".")):
            if isinstance(value, dict) and ("keys" in rule or "values" in rule):
                for key, item in value.items():
                    reason = _violation(f"{path} key", key, rule.get("keys", {})) or _violation(
                        f"{path}[{key}]", item, rule.get("values", {})
                    )
                    if reason:
                        failures.append((path, reason))
            elif "free" not in rule:
                reason = _violation(path, value, rule)
                if reason:
                    failures.append((path, reason))
    return failures


# ------------------------------------------------------------------ failures on demand


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    pass


def _fails(token: str, inputs: dict[str, Any]) -> bool:
    """AURIGRAPH_STANDIN_FAIL: comma-separated Docker container names (shell patterns) whose
    containers never turn healthy, as a container with a broken image or config would not."""
    patterns = [p for p in os.environ.get("AURIGRAPH_STANDIN_FAIL", "").split(",") if p]
    name = str(inputs.get("name", ""))
    return token == "docker:index/container:Container" and any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _unhealthy(context, rid: str, state: dict[str, Any]) -> None:
    """What the real provider does when `wait` runs out: the container exists but Create fails
    with "container failed to be in healthy state" (resource_docker_container_funcs.go,
    errContainerFailedToBeInHealthyState); the bridge reports it as ErrorResourceInitFailed,
    so the engine keeps the container in the state, marked as failed to initialise."""
    message = "container failed to be in healthy state"
    detail = any_pb2.Any()
    detail.Pack(provider_pb2.ErrorResourceInitFailed(id=rid, properties=_struct(state), reasons=[message]))
    status = status_pb2.Status(code=grpc.StatusCode.UNKNOWN.value[0], message=message, details=[detail])
    context.abort_with_status(
        _Status(grpc.StatusCode.UNKNOWN, message, (("grpc-status-details-bin", status.SerializeToString()),))
    )


def _update_refused(token: str, olds: dict[str, Any], news: dict[str, Any]) -> str:
    """Updates the real provider refuses at apply time."""
    if (
        token == "gcp:compute/instance:Instance"
        and olds.get("machineType") != news.get("machineType")
        and not news.get("allowStoppingForUpdate")
    ):
        # terraform-provider-google, compute instance update: a started instance must be stopped.
        return (
            "Changing the machine_type, min_cpu_platform, service_account, enable_display, shielded_instance_config, "
            "scheduling.node_affinities or network_interface.[#d].(network/subnetwork/subnetwork_project) or "
            "advanced_machine_features on a started instance requires stopping it. To acknowledge this, please "
            "set allow_stopping_for_update = true in your config."
        )
    return ""


class StandIn(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, provider: str):
        self.provider = provider
        self.replace_paths = load_replace_paths(provider)

    # --- plugin and provider configuration ---
    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=plugin_versions()[self.provider])

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        changed = list(_changed_paths(_dict(request.old_inputs), _dict(request.news)))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=sorted({p[0][0] for p in changed if p[0]}),
        )

    def Configure(self, request, context):
        # Secrets are stripped before they reach this process and re-marked on the outputs by
        # the engine (its annotateSecrets), as for any provider that does not accept secrets.
        return provider_pb2.ConfigureResponse(
            acceptSecrets=False, supportsPreview=True, acceptResources=False, acceptOutputs=False
        )

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    def Invoke(self, request, context):
        # AURIGRAPH_STANDIN_INVOKES (JSON, token -> answer) stands for a provider whose answer
        # changed since the last run, e.g. a distribution that published a newer image.
        answers = {**INVOKES, **json.loads(os.environ.get("AURIGRAPH_STANDIN_INVOKES") or "{}")}
        if request.tok not in answers:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED, f"stand-in {self.provider}: no canned answer for {request.tok}"
            )
        return provider_pb2.InvokeResponse(**{"return": _struct(answers[request.tok])})

    # --- resources ---
    def Check(self, request, context):
        failures = check_failures(_token(request.urn), _dict(request.news))
        return provider_pb2.CheckResponse(
            inputs=request.news,
            failures=[provider_pb2.CheckFailure(property=prop, reason=reason) for prop, reason in failures],
        )

    def Diff(self, request, context):
        token = _token(request.urn)
        old_inputs = _dict(request.old_inputs) if request.HasField("old_inputs") else _dict(request.olds)
        new = _dict(request.news)
        # A bridged provider diffs the new inputs against the state it read back (docker); the
        # others here against the old inputs.
        old = state_as_inputs(token, _dict(request.olds), old_inputs) if token in READBACK else old_inputs
        flags = self.replace_paths.get(token, [])
        detailed: dict[str, provider_pb2.PropertyDiff] = {}
        changed: set[str] = set()
        replaces: set[str] = set()
        for path, kind in _changed_paths(old, new):
            if not path:
                continue
            changed.add(path[0])
            if _flagged(flags, path):
                replaces.add(path[0])
                kind += "_REPLACE"
            detailed[_dotted(path)] = provider_pb2.PropertyDiff(
                kind=getattr(provider_pb2.PropertyDiff, kind), inputDiff=True
            )
        return provider_pb2.DiffResponse(
            replaces=sorted(replaces),
            diffs=sorted(changed),
            detailedDiff=detailed,
            hasDetailedDiff=True,
            changes=provider_pb2.DiffResponse.DIFF_SOME if detailed else provider_pb2.DiffResponse.DIFF_NONE,
        )

    def Create(self, request, context):
        inputs = _dict(request.properties)
        token = _token(request.urn)
        rid = f"{token.split(':')[-1].lower()}-{_digest(request.urn)[:16]}"
        if request.preview:
            return provider_pb2.CreateResponse(id="", properties=request.properties)
        state = read_back(token, {**inputs, **computed_outputs(token, request.urn, inputs)})
        if _fails(token, inputs):
            _operate("create-unhealthy", request.urn)
            _unhealthy(context, rid, state)
        _operate("create", request.urn)
        return provider_pb2.CreateResponse(id=rid, properties=_struct(state))

    def Read(self, request, context):
        # Refresh: what the provider reads back from Docker (or the cloud) for the recorded state.
        state = read_back(_token(request.urn), _dict(request.properties))
        return provider_pb2.ReadResponse(id=request.id, properties=_struct(state), inputs=request.inputs)

    def Update(self, request, context):
        news = _dict(request.news)
        token = _token(request.urn)
        refusal = _update_refused(token, _dict(request.olds), news)
        if refusal:
            context.abort(grpc.StatusCode.UNKNOWN, refusal)
        if request.preview:
            return provider_pb2.UpdateResponse(properties=request.news)
        _operate("update", request.urn)
        return provider_pb2.UpdateResponse(
            properties=_struct(read_back(token, {**news, **computed_outputs(token, request.urn, news)}))
        )

    def Delete(self, request, context):
        _operate("delete", request.urn)
        return empty_pb2.Empty()


def main() -> None:
    if sys.argv[1] == "--list":  # for tests/engine/build: "NAME VERSION" per line
        print("\n".join(f"{name} {version}" for name, version in plugin_versions().items()))
        return
    provider = sys.argv[1]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32), options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(StandIn(provider), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
