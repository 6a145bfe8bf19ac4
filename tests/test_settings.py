"""Settings: presets, overrides, and every kind of bad config failing before anything is registered."""

from __future__ import annotations

import pytest

from model.settings import ConfigError
from tools.mockrun import run_program, stack_plan
from tools.mockrun import stack_settings as settings_for


@pytest.mark.parametrize(
    "stack, expected",
    [
        ("option-b", {"validator": (4, 20), "business": (4, 16), "slim": (6, 15)}),
        ("option-c", {"validator": (5, 25), "business": (5, 20), "slim": (8, 20)}),
        ("dev", {"validator": (4, 4), "business": (2, 2), "slim": (2, 2)}),
    ],
)
def test_stack_files_give_the_documented_layout(stack, expected):
    s = settings_for(stack)
    assert {g.name: (g.containers, g.nodes) for g in s.groups} == expected


def test_option_b_uses_the_specs_resources_and_tuning():
    s = settings_for("option-b")
    assert [(g.cpus, g.memory_mb) for g in s.groups] == [(12.0, 384), (11.0, 320), (6.0, 192)]
    t = s.tuning
    assert (t.thread_pool_size, t.batch_size, t.leveldb_cache_mb, t.consensus_timeout_ms, t.heartbeat_ms) == (
        512,
        100_000,
        200,
        120,
        40,
    )
    assert s.protect_data is True and s.pull_image is False and s.admin_bind_address == "127.0.0.1"


def test_option_c_tunes_harder_than_option_b():
    b, c = settings_for("option-b").tuning, settings_for("option-c").tuning
    assert c.thread_pool_size > b.thread_pool_size and c.batch_size > b.batch_size
    assert c.consensus_timeout_ms < b.consensus_timeout_ms and c.heartbeat_ms < b.heartbeat_ms


def test_tuning_env_values_are_all_strings():
    env = settings_for("option-b").tuning.as_env()
    assert env and all(isinstance(v, str) for v in env.values())


def test_a_group_field_overrides_the_preset_and_leaves_the_rest():
    s = settings_for("option-b", {"groups.business.memoryMb": 512, "groups.validator.image": "reg.local/v11:11.0.1"})
    assert s.group("business").memory_mb == 512 and s.group("business").containers == 4
    assert s.group("validator").image == "reg.local/v11:11.0.1"
    assert s.group("slim").image == "aurigraph/v11-native:11.0.0"  # the default image, untouched


def test_counts_given_as_strings_are_accepted_like_cli_values():
    s = settings_for("option-b", {"groups.slim.containers": "7", "groups.slim.nodes": "17"})
    assert (s.group("slim").containers, s.group("slim").nodes) == (7, 17)


def test_custom_density_takes_every_group_from_config():
    s = settings_for("dev")
    assert s.density == "custom"
    assert s.group("validator").cpus == 0.5


@pytest.mark.parametrize("stack, expected", [("option-b", 1), ("option-c", 1), ("dev", 1)])
def test_validator_max_unavailable_defaults_to_the_fault_budget(stack, expected):
    assert stack_plan(stack).max_unavailable["validator"] == expected


def test_business_and_slim_keep_half_their_nodes_serving():
    plan = stack_plan("option-b")
    assert plan.max_unavailable["business"] == 2  # 2 x 4 = 8 of 16 down at most
    assert plan.max_unavailable["slim"] == 2  # 3 + 3 = 6 of 15 down at most


def test_quorum_risk_is_accepted_only_when_asked_for_and_then_warned():
    plan = stack_plan("option-b", {"groups.validator.maxUnavailable": 2, "groups.validator.allowQuorumRisk": True})
    assert plan.max_unavailable["validator"] == 2
    assert any("groups.validator.maxUnavailable" in w and "fault budget" in w for w in plan.warnings)


def test_the_quorum_warning_reaches_the_pulumi_log():
    run = run_program("option-b", {"groups.validator.maxUnavailable": 2, "groups.validator.allowQuorumRisk": True})
    assert run.error is None
    assert any(sev == "WARNING" and "fault budget" in msg for sev, msg in run.logs)


BAD_CONFIGS = [
    # (id, overrides on option-b, the key the message must name, a fragment of what was expected)
    ("unknown density", {"density": "option-z"}, "density", "one of option-b, option-c, custom"),
    ("missing density", {"density": None}, "density", "missing"),
    ("unknown target", {"target": "mars"}, "target", "one of local"),
    ("unknown group", {"groups.validatr": {"containers": 4}}, "groups.validatr", "did you mean 'validator'"),
    (
        "typo in a group key",
        {"groups.validator.containres": 4},
        "groups.validator.containres",
        "did you mean 'containers'",
    ),
    ("typo in a top-level key", {"protectdata": True}, "protectdata", "did you mean 'protectData'"),
    ("typo in a tuning key", {"tuning.heartbeat": 30}, "tuning.heartbeat", "did you mean 'heartbeatMs'"),
    ("groups not an object", {"groups": "validator=4"}, "groups", "an object"),
    (
        "zero containers",
        {"groups.validator.containers": 0},
        "groups.validator.containers",
        "a whole number from 1 to 500",
    ),
    ("negative containers", {"groups.business.containers": -2}, "groups.business.containers", "from 1 to 500"),
    ("fractional containers", {"groups.business.containers": 2.5}, "groups.business.containers", "whole number"),
    ("word for containers", {"groups.business.containers": "four"}, "groups.business.containers", "whole number"),
    ("boolean for containers", {"groups.slim.containers": True}, "groups.slim.containers", "whole number"),
    ("zero nodes", {"groups.slim.nodes": 0}, "groups.slim.nodes", "from 1 to"),
    (
        "more containers than nodes",
        {"groups.slim.containers": 16},
        "groups.slim.containers",
        "at most groups.slim.nodes (15)",
    ),
    (
        "too many nodes per container",
        {"groups.business.nodes": 200},
        "groups.business.nodes",
        "at most 26 nodes per container",
    ),
    ("memory not a number", {"groups.business.memoryMb": "lots"}, "groups.business.memoryMb", "from 64 to"),
    ("memory too small", {"groups.business.memoryMb": 32}, "groups.business.memoryMb", "from 64 to"),
    ("zero cpus", {"groups.validator.cpus": 0}, "groups.validator.cpus", "a number from 0.01"),
    ("cpus not a number", {"groups.validator.cpus": "twelve"}, "groups.validator.cpus", "a number"),
    ("cpus too precise", {"groups.validator.cpus": 0.001}, "groups.validator.cpus", "two decimals"),
    ("zero thread pool", {"tuning.threadPoolSize": 0}, "tuning.threadPoolSize", "from 1 to"),
    ("negative batch size", {"tuning.batchSize": -5}, "tuning.batchSize", "from 1 to"),
    ("timeout not a number", {"tuning.consensusTimeoutMs": "fast"}, "tuning.consensusTimeoutMs", "whole number"),
    (
        "heartbeat too slow for the timeout",
        {"tuning.heartbeatMs": 100},
        "tuning.heartbeatMs",
        "at most half of tuning.consensusTimeoutMs (120)",
    ),
    (
        "cache larger than the container",
        {"tuning.leveldbCacheMb": 500},
        "tuning.leveldbCacheMb",
        "at most 60% of groups.validator.memoryMb (384): 230 MB",
    ),
    ("malformed image", {"image": "Aurigraph/V11 native"}, "image", "an image reference"),
    ("unpinned image", {"image": "aurigraph/v11-native"}, "image", "pinned to a version tag or digest"),
    (
        "latest image",
        {"groups.validator.image": "aurigraph/v11-native:latest"},
        "groups.validator.image",
        "not 'latest'",
    ),
    ("admin bind to a hostname", {"adminBindAddress": "localhost"}, "adminBindAddress", "an IPv4 or IPv6 address"),
    ("admin bind out of range", {"adminBindAddress": "300.1.1.1"}, "adminBindAddress", "an IPv4 or IPv6 address"),
    ("protectData not a boolean", {"protectData": "yes"}, "protectData", "true or false"),
    ("pullImage not a boolean", {"pullImage": "maybe"}, "pullImage", "true or false"),
    (
        "maxUnavailable beyond the fault budget",
        {"groups.validator.maxUnavailable": 2},
        "groups.validator.maxUnavailable",
        "above the BFT fault budget f = floor((20 - 1) / 3) = 6",
    ),
    (
        "one container above the fault budget",
        {"groups.validator.containers": 2},
        "groups.validator.containers",
        "10 validator nodes down at once",
    ),
    (
        "maxUnavailable above the container count",
        {"groups.business.maxUnavailable": 9},
        "groups.business.maxUnavailable",
        "at most groups.business.containers (4)",
    ),
    (
        "quorum override outside the validators",
        {"groups.slim.allowQuorumRisk": True},
        "groups.slim.allowQuorumRisk",
        "only the validator group",
    ),
    ("custom density without counts", {"density": "custom"}, "groups.validator.containers", "missing"),
    (
        "quorum override not a boolean",
        {"groups.validator.allowQuorumRisk": "sure"},
        "groups.validator.allowQuorumRisk",
        "true or false",
    ),
]


@pytest.mark.parametrize("overrides, key, expected", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_fails_naming_the_key_before_anything_is_registered(overrides, key, expected):
    run = run_program("option-b", overrides)
    assert isinstance(run.error, ConfigError), f"expected a ConfigError, got {run.error!r}"
    message = str(run.error)
    assert "\n" not in message, "the error must be one line"
    assert f"'{key}'" in message and "stack 'option-b'" in message, message
    assert expected in message, message
    assert run.resources == [], "nothing may be registered when the config is bad"


def test_every_problem_is_reported_at_once():
    run = run_program("option-b", {"groups.validator.containers": 0, "tuning.batchSize": "many"})
    keys = {p.key for p in run.error.problems}
    assert keys == {"groups.validator.containers", "tuning.batchSize"}


def test_the_program_refuses_a_bad_config_as_a_pulumi_run_error_so_no_traceback_is_printed():
    # model/ knows nothing of Pulumi; the program's edge turns the ConfigError into a RunError.
    import pulumi

    run = run_program("option-b", {"groups.validator.containers": 0})
    assert isinstance(run.error, pulumi.RunError) and isinstance(run.error, ConfigError)
    assert not issubclass(ConfigError, pulumi.RunError)


def test_the_message_says_what_was_given():
    run = run_program("option-b", {"groups.validator.containers": 0})
    assert "got 0" in str(run.error)
