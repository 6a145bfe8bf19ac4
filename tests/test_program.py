"""The program under Pulumi mocks, fed each real stack file: what it registers, and how.

Every assertion reads the recorded registrations after the run has settled (the harness
awaits every outstanding RPC and Output before returning), so none can hide inside an
un-awaited `apply`.
"""

from __future__ import annotations

import pytest

from tests.helpers import CONTAINER, DOCKER_PROVIDER, NETWORK, VOLUME, env

EXPECTED = {
    "option-b": {"validator": (4, 20), "business": (4, 16), "slim": (6, 15)},
    "option-c": {"validator": (5, 25), "business": (5, 20), "slim": (8, 20)},
}
NODE_GROUPS = ("validator", "business", "slim")


def node_containers(run):
    return [r for r in run.of_type(CONTAINER) if r.name.split("-")[0] in NODE_GROUPS]


def labels(reg):
    return {item["label"]: item["value"] for item in reg.inputs.get("labels", [])}


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_stack_registers_every_logical_node_in_its_containers(stack_run, stack):
    run = stack_run(stack)
    containers = node_containers(run)
    per_group = {}
    for reg in containers:
        group = labels(reg)["io.aurigraph.group"]
        count, nodes = per_group.get(group, (0, 0))
        per_group[group] = (count + 1, nodes + len(labels(reg)["io.aurigraph.nodes"].split(",")))
    assert per_group == EXPECTED[stack]
    total_nodes = sum(n for _, n in per_group.values())
    assert total_nodes == {"option-b": 51, "option-c": 65}[stack]
    assert len(containers) == {"option-b": 14, "option-c": 18}[stack]


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_node_inventory_output_lists_every_logical_node(stack_run, stack):
    run = stack_run(stack)
    nodes = run.outputs["nodes"]
    assert len(nodes) == sum(n for _, n in EXPECTED[stack].values())
    assert nodes["validator-1a"] == {
        "container": "validator-1",
        "dockerName": f"{stack}-validator-1",
        "group": "validator",
        "ports": {"http": 8080, "p2p": 9080},
    }
    labelled = {n for reg in node_containers(run) for n in labels(reg)["io.aurigraph.nodes"].split(",")}
    assert set(nodes) == labelled


def test_container_names_and_labels_follow_the_contract(stack_run):
    run = stack_run("option-b")
    reg = run.named("validator-1", CONTAINER)
    assert reg.inputs["name"] == "option-b-validator-1"
    assert labels(reg) == {
        "io.aurigraph.group": "validator",
        "io.aurigraph.nodes": "validator-1a,validator-1b,validator-1c,validator-1d,validator-1e",
        "io.aurigraph.stack": "option-b",
        "io.aurigraph.container": "validator-1",
    }
    slim6 = run.named("slim-6", CONTAINER)
    assert labels(slim6)["io.aurigraph.nodes"] == "slim-6a,slim-6b"


@pytest.mark.parametrize("stack", ["option-b", "option-c", "dev"])
def test_every_node_container_is_limited_health_gated_and_replaced_safely(stack_run, stack):
    run = stack_run(stack)
    for reg in node_containers(run):
        where = reg.urn
        inputs = reg.inputs
        assert float(inputs["cpus"]) > 0 and inputs["memory"] >= 64, where
        assert inputs["wait"] is True and inputs["waitTimeout"] > 0, where
        assert inputs["restart"] == "unless-stopped", where
        check = inputs["healthcheck"]
        assert check["tests"][0] == "CMD-SHELL" and "/q/health/ready" in check["tests"][1], where
        assert reg.delete_before_replace, where
        assert reg.replace_on_changes == ["healthcheck"], where
        assert "ports" not in inputs, f"{where}: node containers publish no host ports"


def test_limits_match_the_spec_per_group(stack_run):
    run = stack_run("option-b")
    assert (
        run.named("validator-1", CONTAINER).inputs["cpus"],
        run.named("validator-1", CONTAINER).inputs["memory"],
    ) == ("12.0", 384)
    assert (run.named("business-1", CONTAINER).inputs["cpus"], run.named("business-1", CONTAINER).inputs["memory"]) == (
        "11.0",
        320,
    )
    assert (run.named("slim-1", CONTAINER).inputs["cpus"], run.named("slim-1", CONTAINER).inputs["memory"]) == (
        "6.0",
        192,
    )


def test_healthcheck_probes_every_logical_node_of_the_container(stack_run):
    command = stack_run("option-b").named("slim-1", CONTAINER).inputs["healthcheck"]["tests"][1]
    assert "for p in 8080 8081 8082;" in command


def test_node_env_is_strings_and_reaches_services_by_container_name(stack_run):
    reg = stack_run("option-b").named("business-2", CONTAINER)
    assert all(isinstance(e, str) for e in reg.inputs["envs"])
    e = env(reg)
    assert e["AURIGRAPH_NODE_IDS"] == "business-2a,business-2b,business-2c,business-2d"
    assert e["AURIGRAPH_NODE_GROUP"] == "business"
    assert e["AURIGRAPH_THREAD_POOL_SIZE"] == "512" and e["AURIGRAPH_BATCH_SIZE"] == "100000"
    assert e["QUARKUS_DATASOURCE_JDBC_URL"] == "jdbc:postgresql://postgres:5432/aurigraph"
    assert e["QUARKUS_REDIS_HOSTS"] == "redis://redis:6379"
    assert e["QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://jaeger:4317"
    assert not any("localhost" in v or "127.0.0.1" in v for v in e.values())


def test_every_node_gets_validator_1s_nodes_as_consensus_seeds(stack_run):
    run = stack_run("option-c")
    seeds = "validator-1:9080,validator-1:9081,validator-1:9082,validator-1:9083,validator-1:9084"
    for reg in node_containers(run):
        assert env(reg)["AURIGRAPH_CONSENSUS_SEEDS"] == seeds, reg.urn


def test_the_full_validator_set_is_an_output_not_baked_into_env(stack_run):
    run = stack_run("option-c")
    assert len(run.outputs["validatorPeers"]) == 25 and "validator-5e@validator-5:9084" in run.outputs["validatorPeers"]
    assert run.outputs["faultBudget"] == 8
    assert not any("validator-5" in e for e in run.named("validator-1", CONTAINER).inputs["envs"])


def test_every_container_is_on_the_cluster_network_under_its_name(stack_run):
    run = stack_run("option-b")
    (network,) = run.of_type(NETWORK)
    assert network.inputs["name"] == "option-b-net"
    for reg in node_containers(run):
        (attachment,) = reg.inputs["networksAdvanced"]
        assert attachment == {"name": "option-b-net", "aliases": [reg.name]}, reg.urn


def test_every_resource_is_on_the_explicit_docker_provider(stack_run):
    run = stack_run("option-b")
    (provider,) = run.of_type(DOCKER_PROVIDER)
    for reg in run.resources:
        if reg.custom and reg.type.startswith("docker:"):
            assert reg.provider.startswith(provider.urn + "::"), reg.urn


def test_each_container_has_a_retained_data_volume(stack_run):
    run = stack_run("option-b")
    volumes = {r.inputs["name"]: r for r in run.of_type(VOLUME)}
    for reg in node_containers(run):
        (mount,) = reg.inputs["volumes"]
        volume = volumes[mount["volumeName"]]
        assert mount["containerPath"] == "/var/lib/aurigraph"
        assert volume.retain_on_delete and volume.protect, volume.urn  # option-b sets protectData


def test_dev_volumes_are_retained_but_not_protected(stack_run):
    for volume in stack_run("dev").of_type(VOLUME):
        assert volume.retain_on_delete and not volume.protect, volume.urn


def node_images(run):
    """RemoteImages of the node groups (the services' own images are pulled by their components)."""
    return [r for r in run.of_type("docker:index/remoteImage:RemoteImage") if "aurigraph:index:NodeGroup" in r.parent]


def test_without_pull_the_container_names_the_local_image_and_nothing_pulls(stack_run):
    run = stack_run("option-b")
    assert node_images(run) == []
    assert run.named("validator-1", CONTAINER).inputs["image"] == "aurigraph/v11-native:11.0.0"


def test_with_pull_one_kept_remote_image_per_distinct_image():
    from tools.mockrun import run_program

    run = run_program("option-b", {"pullImage": True, "groups.validator.image": "reg.example/v11:11.0.1"})
    images = {r.inputs["name"]: r for r in node_images(run)}
    assert set(images) == {"reg.example/v11:11.0.1", "aurigraph/v11-native:11.0.0"}
    assert all(r.inputs["keepLocally"] is True for r in images.values())
    assert run.named("validator-1", CONTAINER).inputs["image"].startswith("sha256:")


def test_validator_containers_roll_one_wave_at_a_time(stack_run):
    run = stack_run("option-b")
    urns = {r.name: r.urn for r in node_containers(run)}
    for i in (2, 3, 4):
        assert urns[f"validator-{i - 1}"] in run.named(f"validator-{i}", CONTAINER).dependencies
    assert not any(u in run.named("validator-1", CONTAINER).dependencies for u in urns.values())


def test_business_containers_roll_two_at_a_time(stack_run):
    run = stack_run("option-b")
    urns = {r.name: r.urn for r in node_containers(run)}
    deps = {n: set(run.named(n, CONTAINER).dependencies) & set(urns.values()) for n in urns if n.startswith("business")}
    assert deps == {
        "business-1": set(),
        "business-2": set(),
        "business-3": {urns["business-1"]},
        "business-4": {urns["business-2"]},
    }


def test_components_use_the_project_type_tokens(stack_run):
    components = [r for r in stack_run("option-b").resources if not r.custom]
    assert all(r.type.startswith("aurigraph:index:") for r in components)
    # One component per group, and one per service or exporter (the uploader rides with Backup).
    assert {r.type for r in components} >= {"aurigraph:index:AurigraphCluster", "aurigraph:index:NodeGroup"}


def test_children_are_parented_to_their_component(stack_run):
    run = stack_run("option-b")
    group = run.named("validator", "aurigraph:index:NodeGroup")
    assert run.named("validator-1", CONTAINER).parent == group.urn
    assert run.named("validator-1-data", VOLUME).parent == group.urn
