"""Contracts with the real Pulumi: provider schemas, the project-file schema, documented config."""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml

from model.config import TOP_LEVEL_KEYS
from tests.helpers import REPO
from tests.schema_check import DOCKER_SCHEMA, PROJECT_SCHEMA, check_inputs, load
from tools.mockrun import stack_names, stack_target


@pytest.mark.parametrize("stack", [s for s in stack_names() if stack_target(s) != "kubernetes"])
def test_recorded_docker_inputs_conform_to_the_pulumi_docker_schema(stack_run, stack):
    schema = load(DOCKER_SCHEMA)
    run = stack_run(stack)
    checked = 0
    for reg in run.resources:
        if reg.type.startswith("docker:") or reg.type == "pulumi:providers:docker":
            assert check_inputs(schema, reg.type, reg.inputs) == [], reg.urn
            checked += 1
    assert checked > 0


def test_the_schema_check_catches_a_wrong_name_and_a_wrong_type():
    schema = load(DOCKER_SCHEMA)
    problems = check_inputs(
        schema,
        "docker:index/container:Container",
        {"image": "x:1", "memoryMb": 1, "memory": "384", "healthcheck": {"test": ["x"]}},
    )
    assert any("memoryMb: no such property" in p for p in problems)
    assert any("memory: expected integer" in p for p in problems)
    assert any("healthcheck.test: no such property" in p for p in problems)
    assert check_inputs(schema, "docker:index/container:Container", {"name": "x"}) == [
        "docker:index/container:Container.image: required and missing"
    ]


def test_pulumi_yaml_conforms_to_the_cli_project_schema():
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    jsonschema.validate(project, load(PROJECT_SCHEMA))
    assert project["name"] == "aurigraph-cluster"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": "venv"}


def test_pulumi_yaml_and_the_readme_reference_are_generated_from_the_config_models():
    """Defaults live in model/config.py only; `python -m tools.configdoc --write` regenerates both."""
    from tools import configdoc

    assert configdoc.outdated() == [], "run python -m tools.configdoc --write"
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(TOP_LEVEL_KEYS)
    assert all(decl.get("description") for decl in declared.values())


def test_every_generated_table_row_is_one_line():
    """A docstring's line break inside a cell would end the Markdown table row early."""
    from tools import configdoc

    for table in (configdoc.reference_table(), configdoc.services_table()):
        assert all(line.startswith("|") and line.endswith("|") for line in table.splitlines())
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert not [k for k, decl in declared.items() if "\n" in decl["description"]]


def test_the_generated_files_fail_the_check_when_a_model_changes(monkeypatch):
    from model.config import CacheConfig
    from tools import configdoc

    field = CacheConfig.model_fields["max_memory_mb"]
    monkeypatch.setattr(field, "default", 512)
    assert set(configdoc.outdated()) == {configdoc.PROJECT_FILE, configdoc.README}


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_sets_each_declared_key_that_has_no_default(stack):
    """The CLI's rule (pkg/workspace/config.go, mergeConfig): a project key declared with
    neither `default` nor `value` is required, and `pulumi up` refuses a stack without it."""
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    required = {k for k, decl in declared.items() if "default" not in decl and "value" not in decl}
    assert required == {"density"}, "only density has no default: every stack names its own"
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert {f"aurigraph-cluster:{k}" for k in required} <= set(config)


@pytest.mark.parametrize("stack", stack_names())
def test_stack_files_only_use_known_project_keys(stack):
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key in config:
        namespace, _, name = key.partition(":")
        if namespace == "aurigraph-cluster":
            assert re.sub(r"\..*", "", name) in TOP_LEVEL_KEYS, key


# Inputs that pulumi-docker 5.2.0's SDK accepts and the vendored (v4-line) schema lacks. The
# program sets none of them; the stand-in provider would treat a change to one as in-place.
SCHEMA_GAPS = {"docker:index/container:Container": {"deviceCgroupRules"}}


@pytest.mark.parametrize(
    "cls_name,token",
    [
        ("Container", "docker:index/container:Container"),
        ("Volume", "docker:index/volume:Volume"),
        ("Network", "docker:index/network:Network"),
        ("RemoteImage", "docker:index/remoteImage:RemoteImage"),
    ],
)
def test_vendored_docker_schema_matches_the_pinned_sdk(cls_name, token):
    """The schema the stand-in provider and tools.plan decide replacements from describes the
    inputs of the pulumi-docker that requirements.txt pins, apart from the listed gaps."""
    import inspect

    import pulumi_docker

    params = inspect.signature(getattr(pulumi_docker, cls_name)._internal_init).parameters
    sdk = {
        re.sub(r"_([a-z])", lambda m: m.group(1).upper(), n)
        for n in params
        if n not in ("self", "__self__", "resource_name", "opts", "__props__")
    }
    schema = set(load(DOCKER_SCHEMA)["resources"][token]["inputProperties"])
    assert schema <= sdk
    assert sdk - schema == SCHEMA_GAPS.get(token, set())
