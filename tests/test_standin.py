"""The stand-in docker provider's read-back (tests/engine/schemas/readback.json), without the engine.

The real provider diffs new inputs against what it read back from Docker; these tests pin the
rules the stand-in applies, and check that every docker input the program sends on every stack
is a fixed point of them: what goes in is what comes back, so a no-op `up` changes nothing.
"""

from __future__ import annotations

import json
import re

import pytest

from model import readback
from tests.engine import standin
from tools.fills import fills_for
from tools.mockrun import run_program, stack_config, stack_names

CONTAINER = "docker:index/container:Container"


def _leaf_paths(value, prefix=()):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, prefix + (key,))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            yield from _leaf_paths(item, prefix)
    else:
        yield prefix


def _covered(rules: dict, path: tuple[str, ...]) -> bool:
    return any(".".join(path[:i]) in rules for i in range(1, len(path) + 1))


@pytest.fixture
def docker_inputs(stack_run):
    return [
        (stack, r)
        for stack in stack_names()
        for r in stack_run(stack).resources
        if r.type.startswith(("docker:", "pulumi:providers:docker"))
    ]


def test_every_docker_property_the_program_sets_has_a_read_back_rule(docker_inputs):
    missing = sorted(
        {
            (r.type, ".".join(p))
            for _, r in docker_inputs
            for p in _leaf_paths(r.inputs)
            if p and not _covered(standin.READBACK.get(r.type, {}), p)
        }
    )
    assert not missing, f"no entry in tests/engine/schemas/readback.json for {missing}"


def test_every_rule_names_its_source():
    for token, rules in standin.READBACK.items():
        for path, entry in rules.items():
            assert entry["rule"] in standin._VALUE_RULES or entry["rule"] == "swap-default", (token, path)
            assert entry["source"].strip(), (token, path)


def test_what_the_program_sends_is_what_docker_reads_back(docker_inputs):
    for stack, reg in docker_inputs:
        state = standin.read_back(reg.type, reg.inputs)
        assert standin.state_as_inputs(reg.type, state, reg.inputs) == reg.inputs, (stack, reg.name)


@pytest.mark.parametrize(
    "given,read",
    [
        ("12", "12.0"),
        ("11", "11.0"),
        ("10", "10."),
        ("0.25", "0.25"),
        ("0.5", "0.5"),
        ("1.5", "1.5"),
        ("0.05", "0.1"),
        ("0.01", "0.0"),
    ],
)
def test_cpus_read_back_as_the_provider_formats_nano_cpus(given, read):
    assert readback.read_cpus(readback.nano_cpus(given)) == read


def test_the_rules_that_would_replace_every_container_of_an_unfixed_program():
    given = {
        "cpus": "12",
        "memory": 384,
        "capabilities": {"drops": ["ALL"], "adds": ["CHOWN"]},
        "healthcheck": {"interval": "1m", "timeout": "5s"},
        "ports": [{"internal": 8404, "external": 8404}, {"internal": 8080, "external": 8080}],
    }
    state = standin.read_back(CONTAINER, given)
    assert state["cpus"] == "12.0"
    assert state["capabilities"] == {"drops": ["ALL"], "adds": ["CAP_CHOWN"]}
    assert state["memorySwap"] == 768  # Docker's default swap: twice the memory
    assert state["healthcheck"]["interval"] == "1m0s"
    assert [p["internal"] for p in state["ports"]] == [8080, 8404]
    # Diffed as the bridge diffs: against the state, memory swap included although never set.
    assert standin.state_as_inputs(CONTAINER, state, given)["memorySwap"] == 768


def test_a_cpu_limit_docker_cannot_hold_as_given_is_refused_before_anything_is_registered():
    run = run_program("option-b", {"groups.slim.cpus": 0.05})
    assert run.error is not None and not run.resources
    assert "groups.slim.cpus" in str(run.error) and "reads back as 0.1" in str(run.error)


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (5, "5s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s")])
def test_durations_are_sent_as_go_prints_them(seconds, text):
    assert readback.go_duration(seconds) == text
    assert standin._go_duration(text) == text


def test_the_gcp_stand_in_refuses_a_machine_type_change_it_may_not_stop_for():
    old = {"machineType": "n2-standard-48"}
    refusal = standin._update_refused("gcp:compute/instance:Instance", old, {"machineType": "n2-standard-64"})
    assert "allow_stopping_for_update = true" in refusal
    assert not standin._update_refused(
        "gcp:compute/instance:Instance", old, {"machineType": "n2-standard-64", "allowStoppingForUpdate": True}
    )


# ---------------------------------------------------------------- provider-side validation

# Properties that name or describe: every one needs a rule, whatever sets it.
NAME_LIKE = re.compile(r"(^|\.)(name|description|tags|labels|hostname|computerName|bucketPrefix|friendlyName|keyName)$")
# A reference to another resource is whatever its provider returned: no rule of its own.
REFERENCE = re.compile(r"(Id|Ids|ID|Uri|Arn)$|^(id|instance|source|network|subnetwork|disk|scope|triggers|content)$")
# Config words that also occur in constant text.
GENERIC = {"local", "ssh", "aws", "azure", "gcp", "option-b", "option-c", "custom", "true", "false"}
MAPS = ("tags", "labels", "metadata", "logOpts", "targetTags", "tagsToAdd")


def _config_strings(stack: str, overrides: dict) -> set[str]:
    config, _ = stack_config(stack, overrides)
    out = {stack}
    for raw in config.values():
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out |= {v for _, v in _leaves(value) if isinstance(v, str) and len(v) >= 3 and v not in GENERIC}
    return out


def _leaves(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, prefix + (key,))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, prefix)
    else:
        yield prefix, value


def _templated_properties(stack_run):
    """(type, property) the program sets from config or a template, or that names something."""
    out = set()
    bucket = {**fills_for("aws-option-b"), "backup.bucket": True}
    variants = [(s, fills_for(s), stack_run(s)) for s in stack_names()] + [
        ("aws-option-b", bucket, run_program("aws-option-b", bucket))
    ]
    for stack, overrides, run in variants:
        assert run.error is None, run.error
        from_config = _config_strings(stack, overrides)
        for reg in run.resources:
            # The Kubernetes provider is the real one in the tests (tests/kube), and the real API
            # server validates what it sends (tests/test_kube_target.py): no stand-in rule to keep.
            if not reg.custom or reg.type.startswith("kubernetes:"):
                continue
            for path, value in _leaves(reg.inputs):
                if not path or REFERENCE.search(path[-1]):
                    continue
                cut = next((i + 1 for i, p in enumerate(path) if p in MAPS), len(path))
                prop = ".".join(path[:cut])
                if NAME_LIKE.search(prop) or (isinstance(value, str) and any(c in value for c in from_config)):
                    out.add((reg.type, prop))
    return out


def test_every_templated_or_naming_property_has_a_documented_constraint(stack_run):
    missing = sorted(
        (token, prop)
        for token, prop in _templated_properties(stack_run)
        if not any(prop == p or prop.startswith(p + ".") for p in standin.constraints_for(token))
    )
    assert not missing, f"no entry in tests/engine/schemas/constraints.json for {missing}"


def test_every_constraint_names_its_source_and_compiles():
    for token, rules in standin.CONSTRAINTS.items():
        for path, rule in rules.items():
            assert rule.get("source", "").strip(), (token, path)
            for part in (rule, rule.get("keys", {}), rule.get("values", {})):
                if "pattern" in part:
                    re.compile(part["pattern"])


@pytest.mark.parametrize("stack", stack_names())
def test_what_every_stack_sends_passes_the_providers_validation(stack, stack_run):
    run = stack_run(stack)
    failures = [
        (r.type, r.name, f) for r in run.resources if r.custom for f in standin.check_failures(r.type, r.inputs)
    ]
    assert not failures, failures


@pytest.mark.parametrize(
    "token,inputs,prop",
    [
        # The DLM description and schedule name the program rendered before (every AWS preview failed).
        (
            "aws:dlm/lifecyclePolicy:LifecyclePolicy",
            {"description": "aurigraph aws-option-b: data volume snapshots"},
            "description",
        ),
        (
            "aws:dlm/lifecyclePolicy:LifecyclePolicy",
            {"policyDetails": {"schedules": [{"name": "every 24 h, kept 7 days"}]}},
            "policyDetails.schedules.name",
        ),
        ("aws:ec2/vpc:Vpc", {"tags": {"aws:stack": "x"}}, "tags"),
        ("aws:s3/bucket:Bucket", {"bucketPrefix": "aurigraph-a-twenty-char-stack-backups-"}, "bucketPrefix"),
        ("gcp:compute/disk:Disk", {"labels": {"aurigraph-stack": "Prod-B"}}, "labels"),
        (
            "azure-native:compute:VirtualMachine",
            {"osProfile": {"computerName": "aurigraph_prod"}},
            "osProfile.computerName",
        ),
        ("azure-native:compute:VirtualMachine", {"osProfile": {"adminUsername": "admin"}}, "osProfile.adminUsername"),
        ("docker:index/container:Container", {"name": "_option-b-validator-1"}, "name"),
        ("docker:index/container:Container", {"restart": "sometimes"}, "restart"),
    ],
)
def test_the_stand_ins_refuse_what_the_real_apis_refuse(token, inputs, prop):
    assert [p for p, _ in standin.check_failures(token, inputs)] == [prop]


def test_a_value_not_known_in_preview_is_not_checked():
    assert standin.check_failures(CONTAINER, {"envs": [standin.UNKNOWN], "name": standin.UNKNOWN}) == []
