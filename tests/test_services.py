"""The infrastructure services under mocks: images, ports, secrets, uploads and endpoints."""

from __future__ import annotations

import json

import pytest
import yaml

from model.services import PUBLISHED, SERVICE_IMAGES, deployed
from model.services import SERVICES as REGISTRY
from model.settings import ConfigError
from tests.helpers import CONTAINER, env
from tools.mockrun import run_program, stack_settings

# What option-b runs and publishes, read from the registry (model/services.py): these tests
# check that the program deploys what the registry says, wired as it says.
RUNS = tuple(spec.name for spec in deployed(stack_settings("option-b").features))
PUBLISHED_PORTS = {spec.name: {p.port for p in spec.published} for spec in REGISTRY if spec.published}
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


def uploads(reg) -> dict[str, str]:
    return {u["file"]: u["content"] for u in reg.inputs.get("uploads", [])}


@pytest.mark.parametrize("stack", ["option-b", "option-c"])
def test_every_service_runs_a_pinned_image(stack_run, stack):
    run = stack_run(stack)
    for name in RUNS:
        container = run.named(name, CONTAINER)
        image = run.named(f"{name}-image", REMOTE_IMAGE)
        assert container.inputs["image"].startswith("sha256:"), name
        ref = image.inputs["name"]
        assert ref in SERVICE_IMAGES.values() and not ref.endswith(":latest") and ":" in ref.split("/")[-1], ref
        assert image.inputs["keepLocally"] is True
    assert run.named("prometheus-image", REMOTE_IMAGE).inputs["name"] == "prom/prometheus:v2.48.0"
    assert run.named("grafana-image", REMOTE_IMAGE).inputs["name"] == "grafana/grafana:10.2.3"
    assert run.named("postgres-image", REMOTE_IMAGE).inputs["name"].startswith("postgres:16.")
    assert run.named("redis-image", REMOTE_IMAGE).inputs["name"].startswith("redis:7.")


@pytest.mark.parametrize("stack, nodes", [("option-b", 51), ("option-c", 65)])
def test_prometheus_scrapes_exactly_one_target_per_logical_node(stack_run, stack, nodes):
    config = yaml.safe_load(uploads(stack_run(stack).named("prometheus", CONTAINER))["/etc/prometheus/prometheus.yml"])
    node_targets = [
        t
        for job in config["scrape_configs"]
        if job["job_name"].startswith("aurigraph-")
        for sc in job["static_configs"]
        for t in sc["targets"]
    ]
    assert len(node_targets) == nodes == len(stack_run(stack).outputs["nodes"])


@pytest.mark.parametrize("stack", ["option-b", "option-c", "dev"])
def test_only_the_api_and_admin_uis_are_published(stack_run, stack):
    run = stack_run(stack)
    published = {
        r.name: {p["internal"] for p in r.inputs["ports"]} for r in run.of_type(CONTAINER) if "ports" in r.inputs
    }
    assert published == PUBLISHED_PORTS
    for name in ("postgres", "redis"):
        assert "ports" not in run.named(name, CONTAINER).inputs


def test_admin_uis_bind_to_loopback_and_the_api_to_its_own_address(stack_run):
    run = stack_run("option-b")
    for reg in run.of_type(CONTAINER):
        for port in reg.inputs.get("ports", []):
            expected = "0.0.0.0" if (reg.name, port["internal"]) == ("haproxy", 8080) else "127.0.0.1"
            assert port["ip"] == expected, (reg.name, port)


def test_bind_addresses_and_ports_come_from_config():
    run = run_program(
        "option-b",
        {"adminBindAddress": "10.0.0.5", "apiBindAddress": "127.0.0.1", "ports.grafana": 3300, "ports.api": 18080},
    )
    assert run.error is None
    grafana = run.named("grafana", CONTAINER).inputs["ports"]
    assert grafana == [{"internal": 3000, "external": 3300, "ip": "10.0.0.5", "protocol": "tcp"}]
    assert run.outputs["endpoints"]["api"] == "http://127.0.0.1:18080/api/v11"
    assert run.outputs["endpoints"]["grafana"] == "http://10.0.0.5:3300"


def test_two_services_on_one_host_port_is_a_config_error_before_anything_is_registered():
    run = run_program("option-b", {"ports.grafana": 9090})
    assert isinstance(run.error, ConfigError)
    assert "'ports.grafana'" in str(run.error) and "ports.prometheus is 9090 too" in str(run.error)
    assert run.resources == []


def test_endpoints_output_names_every_ui(stack_run):
    # option-b binds every published port to loopback; the spec's API path is /api/v11.
    assert stack_run("option-b").outputs["endpoints"] == {
        p.key: f"http://127.0.0.1:{p.default}{p.path}" for p in PUBLISHED
    }
    assert stack_run("option-b").outputs["endpoints"]["api"] == "http://127.0.0.1:8080/api/v11"


def test_passwords_are_secret_wherever_they_go(stack_run):
    run = stack_run("option-b")
    for name, fields in {
        "postgres": {"envs", "uploads"},
        "redis": {"envs", "uploads"},
        "grafana": {"envs"},
        "postgres-exporter": {"envs"},
        "redis-exporter": {"envs"},
        "validator-1": {"envs"},
    }.items():
        assert fields <= run.named(name, CONTAINER).secret_inputs, name
    for reg in run.of_type(CONTAINER):
        for key in env(reg):
            if "PASSWORD" in key or key in ("DATA_SOURCE_PASS", "REDISCLI_AUTH"):
                assert "envs" in reg.secret_inputs, f"{reg.urn}: {key} in a plaintext env"


def test_no_password_appears_in_outputs_or_in_any_plaintext_input():
    chosen = {
        "dbPassword": "db-chosen-password-1",
        "redisPassword": "redis-chosen-password-2",
        "grafanaAdminPassword": "grafana-chosen-password-3",
    }
    run = run_program("option-b", secrets=chosen)
    assert run.error is None
    generated = [r.inputs for r in run.of_type("random:index/randomPassword:RandomPassword")]
    assert len(generated) == 3  # superuser, metrics and backup; the three above are the operator's
    outputs = json.dumps(run.outputs)
    for value in chosen.values():
        assert value not in outputs
        for reg in run.resources:
            plaintext = {k: v for k, v in reg.inputs.items() if k not in reg.secret_inputs}
            assert value not in json.dumps(plaintext), f"{value} in plaintext inputs of {reg.urn}"
    # ... and they do reach the containers that need them, as secrets.
    assert "QUARKUS_DATASOURCE_PASSWORD=db-chosen-password-1" in run.named("validator-1", CONTAINER).inputs["envs"]
    assert "GF_SECURITY_ADMIN_PASSWORD=grafana-chosen-password-3" in run.named("grafana", CONTAINER).inputs["envs"]
    assert (
        'requirepass "redis-chosen-password-2"'
        in uploads(run.named("redis", CONTAINER))["/usr/local/etc/redis/redis.conf"]
    )


def test_unset_passwords_are_generated(stack_run):
    names = {r.name for r in stack_run("option-b").of_type("random:index/randomPassword:RandomPassword")}
    assert names == {
        "postgres-superuser-password",
        "postgres-app-password",
        "postgres-metrics-password",
        "postgres-backup-password",
        "redis-password",
        "grafana-admin-password",
    }


@pytest.mark.parametrize("key", ["dbPassword", "redisPassword", "grafanaAdminPassword"])
def test_a_password_set_in_plaintext_is_refused_without_echoing_it(key):
    run = run_program("option-b", {key: "plaintext-password-123"})
    assert isinstance(run.error, ConfigError)
    assert f"'{key}': must be set as a secret" in str(run.error)
    assert "plaintext-password-123" not in str(run.error)
    assert run.resources == []


def test_a_short_password_is_refused():
    run = run_program("option-b", secrets={"dbPassword": "short"})
    assert isinstance(run.error, ConfigError) and "at least 12 characters" in str(run.error)
    assert '"short"' not in str(run.error) and "value not shown" in str(run.error)


def test_grafana_is_provisioned_and_sign_up_is_the_string_false(stack_run):
    grafana = stack_run("option-b").named("grafana", CONTAINER)
    assert env(grafana)["GF_USERS_ALLOW_SIGN_UP"] == "false"
    files = uploads(grafana)
    datasources = yaml.safe_load(files["/etc/grafana/provisioning/datasources/aurigraph.yaml"])["datasources"]
    assert {d["type"]: d["url"] for d in datasources} == {
        "prometheus": "http://prometheus:9090",
        "jaeger": "http://jaeger:16686",
    }
    dashboards = [f for f in files if f.endswith(".json")]
    assert len(dashboards) == 4


def test_each_config_file_reaches_only_the_container_that_reads_it(stack_run):
    run = stack_run("option-b")
    readers = {path: reg.name for reg in run.of_type(CONTAINER) for path in uploads(reg)}
    assert readers["/etc/prometheus/prometheus.yml"] == "prometheus"
    assert readers["/etc/prometheus/rules/aurigraph.yml"] == "prometheus"
    assert readers["/usr/local/etc/haproxy/haproxy.cfg"] == "haproxy"
    assert readers["/docker-entrypoint-initdb.d/10-aurigraph.sql"] == "postgres"
    assert readers["/usr/local/etc/redis/redis.conf"] == "redis"


def _changed_containers(before, after) -> set[str]:
    old = {r.name: r.inputs for r in before.of_type(CONTAINER)}
    return {r.name for r in after.of_type(CONTAINER) if old.get(r.name) != r.inputs}


def test_a_monitoring_change_touches_prometheus_and_nothing_else(stack_run):
    after = run_program("option-b", {"monitoring.scrapeInterval": "15s", "monitoring.retention": "30d"})
    assert _changed_containers(stack_run("option-b"), after) == {"prometheus"}


def test_a_grafana_password_change_touches_grafana_and_no_node():
    before = run_program("option-b", secrets={"grafanaAdminPassword": "first-admin-password"})
    after = run_program("option-b", secrets={"grafanaAdminPassword": "second-admin-password"})
    assert _changed_containers(before, after) == {"grafana"}


def test_node_containers_wait_for_the_database_and_the_cache(stack_run):
    run = stack_run("option-b")
    postgres, redis = run.named("postgres", CONTAINER).urn, run.named("redis", CONTAINER).urn
    for reg in run.of_type(CONTAINER):
        if "aurigraph:index:NodeGroup" in reg.parent:
            assert {postgres, redis} <= set(reg.dependencies), reg.urn


def test_every_container_has_limits_a_healthcheck_and_a_restart_policy(stack_run):
    for reg in stack_run("option-b").of_type(CONTAINER):
        assert reg.inputs["memory"] > 0 and float(reg.inputs["cpus"]) > 0, reg.urn
        assert reg.inputs["healthcheck"]["tests"][0] == "CMD-SHELL", reg.urn
        assert reg.inputs["restart"] == "unless-stopped" and reg.inputs["wait"] is True, reg.urn


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"monitoring.scrapeInterval": "30 seconds"}, "monitoring.scrapeInterval"),
        ({"monitoring.retention": "forever"}, "monitoring.retention"),
        ({"cache.maxMemoryPolicy": "lru"}, "cache.maxMemoryPolicy"),
        ({"cache.maxMemoryMb": 4}, "cache.maxMemoryMb"),
        ({"ports.api": 70000}, "ports.api"),
        ({"ports.ssh": 22}, "ports.ssh"),
        ({"serviceImages.grafana": "grafana/grafana"}, "serviceImages.grafana"),
        ({"apiBindAddress": "everywhere"}, "apiBindAddress"),
    ],
)
def test_bad_service_config_names_its_key(overrides, key):
    run = run_program("option-b", overrides)
    assert isinstance(run.error, ConfigError) and f"'{key}'" in str(run.error)
    assert run.resources == []


def test_every_feature_the_registry_names_says_when_it_is_on_and_decides_what_runs():
    from model.settings import FEATURES

    assert {s.feature for s in REGISTRY if s.feature} == set(FEATURES)
    for stack, overrides, expected in [
        ("option-b", {}, {"postgres-backup"}),
        ("option-b", {"backup.enabled": False}, set()),
    ]:
        run = run_program(stack, overrides)
        optional = {s.name for s in REGISTRY if s.feature}
        running = {r.inputs["name"].removeprefix(f"{stack}-") for r in run.of_type("docker:index/container:Container")}
        assert running & optional == expected
