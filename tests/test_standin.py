"""The stand-in docker provider's read-back (tests/engine/schemas/readback.json), without the engine.

The real provider diffs new inputs against what it read back from Docker; these tests pin the
rules the stand-in applies, and check that every docker input the program sends on every stack
is a fixed point of them: what goes in is what comes back, so a no-op `up` changes nothing.
"""

from __future__ import annotations

import pytest

from model import readback
from tests.engine import standin
from tools.fills import fills_for
from tools.mockrun import run_program, stack_names

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


@pytest.fixture(scope="module")
def docker_inputs():
    out = []
    for stack in stack_names():
        run = run_program(stack, fills_for(stack))
        assert run.error is None, run.error
        out += [(stack, r) for r in run.resources if r.type.startswith(("docker:", "pulumi:providers:docker"))]
    return out


def test_every_docker_property_the_program_sets_has_a_read_back_rule(docker_inputs):
    missing = sorted({(r.type, ".".join(p)) for _, r in docker_inputs for p in _leaf_paths(r.inputs)
                      if p and not _covered(standin.READBACK.get(r.type, {}), p)})
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


@pytest.mark.parametrize("given,read", [("12", "12.0"), ("11", "11.0"), ("10", "10."), ("0.25", "0.25"),
                                        ("0.5", "0.5"), ("1.5", "1.5"), ("0.05", "0.1"), ("0.01", "0.0")])
def test_cpus_read_back_as_the_provider_formats_nano_cpus(given, read):
    assert readback.read_cpus(readback.nano_cpus(given)) == read


def test_the_rules_that_would_replace_every_container_of_an_unfixed_program():
    given = {"cpus": "12", "memory": 384, "capabilities": {"drops": ["ALL"], "adds": ["CHOWN"]},
             "healthcheck": {"interval": "1m", "timeout": "5s"},
             "ports": [{"internal": 8404, "external": 8404}, {"internal": 8080, "external": 8080}]}
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
