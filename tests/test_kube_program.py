"""Target kubernetes under mocks: what the program asks the API server for, object by object,
and the plan's zone arithmetic. tests/test_kube_target.py runs the same program for real."""

from __future__ import annotations

import itertools
import json

import pytest

from model.kube import cron_schedule, worst_zone_loss
from model.planning import make_plan
from model.settings import ConfigError, parse_settings
from model.topology import build_topology, spread
from tests.helpers import ALL_IPV4_BUT_0_8
from tools.mockrun import run_program, stack_settings
from tools.plan import diff, snapshot

STACKS = ("k8s-option-b", "k8s-option-c")
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CRONJOB = "kubernetes:batch/v1:CronJob"


def pod_specs(run):
    for reg in run.of_type(STATEFULSET):
        yield reg.name, reg.inputs["spec"]["template"]["spec"]
    for reg in run.of_type(CRONJOB):
        yield reg.name, reg.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_meets_the_restricted_standard(stack_run, stack):
    run = stack_run(stack)
    specs = dict(pod_specs(run))
    assert len(specs) == len(run.of_type(STATEFULSET)) + 1
    for name, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}, name
            assert container["resources"]["limits"] and container["resources"]["requests"], name


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_is_in_a_configmap_or_written_into_a_pod_spec(stack_run, stack):
    run = stack_run(stack)
    assert len(run.secret_values) >= 6
    plain = json.dumps([r.inputs for r in run.resources if r.type in (STATEFULSET, CRONJOB)])
    plain += json.dumps([r.inputs for r in run.of_type("kubernetes:core/v1:ConfigMap")])
    for value in run.secret_values:
        assert value not in plain
    # Every password variable comes from a Secret.
    for _, spec in pod_specs(run):
        for env in spec["containers"][0]["env"]:
            if "PASSWORD" in env["name"] or env["name"] in ("DATA_SOURCE_PASS", "REDISCLI_AUTH", "PGPASSWORD"):
                assert "secretKeyRef" in env["valueFrom"], env
    secrets = run.of_type("kubernetes:core/v1:Secret")
    assert secrets and all("stringData" in r.secret_inputs for r in secrets)


@pytest.mark.parametrize("stack", STACKS)
def test_every_node_group_has_its_budget_and_the_validators_their_zone_spread(stack_run, stack):
    run = stack_run(stack)
    settings = stack_settings(stack, {})
    plan = make_plan(settings, build_topology(settings))
    budgets = {r.name: r.inputs["spec"] for r in run.of_type("kubernetes:policy/v1:PodDisruptionBudget")}
    assert {name.removesuffix("-budget") for name in budgets} == {"validator", "business", "slim"}
    for group, spec in ((n.removesuffix("-budget"), s) for n, s in budgets.items()):
        containers = len(build_topology(settings).group(group).containers)
        assert spec["minAvailable"] == containers - plan.max_unavailable[group]
        pods = [s for name, s in pod_specs(run) if name.startswith(f"{group}-") and name.split("-")[-1].isdigit()]
        assert pods
        for spec_ in pods:
            zone = spec_["topologySpreadConstraints"][0]
            assert zone["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
            if group == "validator":
                assert zone["whenUnsatisfiable"] == "DoNotSchedule"
                assert zone["minDomains"] == settings.kubernetes.zones
    assert run.outputs["kubernetes"]["worstZoneLoss"]["validator"] <= run.outputs["faultBudget"]


def test_the_api_is_clusterip_unless_a_load_balancer_with_operator_cidrs_is_asked_for(stack_run):
    (api,) = [r for r in stack_run("k8s-option-b").of_type("kubernetes:core/v1:Service") if r.name == "api"]
    assert api.inputs["spec"]["type"] == "ClusterIP" and "loadBalancerSourceRanges" not in api.inputs["spec"]
    services = stack_run("k8s-option-b").of_type("kubernetes:core/v1:Service")
    assert all(s.inputs["spec"].get("type") is None for s in services if s.name != "api")
    run = run_program(
        "k8s-option-b", {"kubernetes.apiServiceType": "LoadBalancer", "kubernetes.apiCidrs": ["198.51.100.0/24"]}
    )
    (api,) = [r for r in run.of_type("kubernetes:core/v1:Service") if r.name == "api"]
    assert api.inputs["spec"]["type"] == "LoadBalancer"
    assert api.inputs["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"]


def test_postgres_and_redis_admit_only_their_clients(stack_run):
    policies = {
        r.name: r.inputs["spec"]
        for r in stack_run("k8s-option-b").of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    clients = {
        name: {
            e["key"]: e["values"]
            for peer in spec["ingress"][0]["from"]
            for e in peer["podSelector"]["matchExpressions"]
        }
        for name, spec in policies.items()
    }
    nodes = ["validator", "business", "slim"]
    assert clients["postgres-clients"] == {
        "aurigraph.io/group": nodes,
        "aurigraph.io/workload": ["postgres-exporter", "postgres-backup"],
    }
    assert clients["redis-clients"] == {"aurigraph.io/group": nodes, "aurigraph.io/workload": ["redis-exporter"]}


def test_claims_outlive_their_pods_and_a_protected_stack():
    run = run_program("k8s-option-b", {})
    claims = run.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert len(claims) == 14 + 6
    assert all(c.retain_on_delete and c.protect for c in claims)
    (namespace,) = run.of_type("kubernetes:core/v1:Namespace")
    assert namespace.retain_on_delete
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_growing_the_validators_adds_a_pod_and_a_claim_and_replaces_no_node_pod():
    # Unprotected, so that four zones may hold more than f of 25 validators (a warning).
    before = snapshot(run_program("k8s-option-b", {"protectData": False}))
    grown = {"protectData": False, "groups.validator.containers": 5, "groups.validator.nodes": 25}
    plan = diff(before, snapshot(run_program("k8s-option-b", grown)))
    assert {c.name for c in plan.of("create")} == {"validator-5", "validator-5-data"}
    # Only Prometheus, which scrapes the new nodes, gets a new config and restarts.
    assert {c.name for c in plan.of("replace")} == {"prometheus", "prometheus-config"}
    # The validators' budget keeps one pod of five out at most: minAvailable 3 of 4 becomes 4 of 5.
    assert [(c.name, c.keys) for c in plan.of("update")] == [("validator-budget", ["spec"])]
    assert not plan.of("delete")


# ---------------------------------------------------------------- the plan's arithmetic


def brute_force_worst_zone(sizes: list[int], zones: int) -> int:
    """Every placement the scheduler may choose (maxSkew 1 over `zones` zones): the heaviest zone."""
    worst = 0
    for placement in itertools.product(range(zones), repeat=len(sizes)):
        counts = [placement.count(z) for z in range(zones)]
        if max(counts) - min(counts) <= 1:
            loads = [sum(s for s, z in zip(sizes, placement, strict=True) if z == zone) for zone in range(zones)]
            worst = max(worst, max(loads))
    return worst


@pytest.mark.parametrize("nodes, containers", [(20, 4), (25, 5), (25, 7), (15, 6), (7, 3), (10, 5)])
@pytest.mark.parametrize("zones", [2, 3, 4, 5])
def test_the_worst_zone_loss_is_the_worst_placement_the_spread_allows(nodes, containers, zones):
    sizes = spread(nodes, containers)
    assert worst_zone_loss(sizes, zones) == brute_force_worst_zone(sizes, zones)


@pytest.mark.parametrize(
    "zones, protect, outcome",
    [(3, False, "warns"), (3, True, "refuses"), (4, True, "passes")],
)
def test_a_zone_loss_above_f_warns_and_a_protected_stack_refuses_it(zones, protect, outcome):
    raw = {
        "target": "kubernetes",
        "density": "option-b",
        "protectData": json.dumps(protect),
        "kubernetes": json.dumps({"zones": zones}),
    }
    settings = parse_settings(raw, "k8s-test")
    if outcome == "refuses":
        with pytest.raises(ConfigError, match=r"'kubernetes.zones': losing one of 3 zones could take 10 validator"):
            make_plan(settings, build_topology(settings))
        return
    plan = make_plan(settings, build_topology(settings))
    warned = [w for w in plan.warnings if w.startswith("kubernetes.zones:")]
    assert bool(warned) == (outcome == "warns")
    if warned:
        assert "at least 4 zones" in warned[0]


@pytest.mark.parametrize(
    "interval, schedule",
    [
        ("5m", "*/5 * * * *"),
        ("15m", "*/15 * * * *"),
        ("1h", "0 * * * *"),
        ("6h", "0 */6 * * *"),
        ("1d", "0 0 * * *"),
        ("7d", "0 0 * * 0"),
        ("90m", None),
        ("7m", None),
        ("5h", None),
        ("2d", None),
    ],
)
def test_backup_intervals_become_cron_schedules_or_are_refused(interval, schedule):
    from model.types import valid_ms

    assert cron_schedule(valid_ms(interval) // 1000) == schedule


# ---------------------------------------------------------------- refused configs

K8S = "k8s-option-b"
REFUSED = [
    ("namespace not a DNS label", {"kubernetes.namespace": "Aurigraph_Prod"}, "kubernetes.namespace"),
    ("storage class with a space", {"kubernetes.storageClass": "fast ssd"}, "kubernetes.storageClass"),
    ("zone key with a slash too many", {"kubernetes.zoneKey": "a/b/c"}, "kubernetes.zoneKey"),
    ("zero zones", {"kubernetes.zones": 0}, "kubernetes.zones"),
    ("node selector value too long", {"kubernetes.nodeSelector": {"pool": "x" * 64}}, "kubernetes.nodeSelector"),
    (
        "toleration with an unknown effect",
        {"kubernetes.tolerations": ["dedicated=aurigraph:Never"]},
        "kubernetes.tolerations",
    ),
    ("service type NodePort", {"kubernetes.apiServiceType": "NodePort"}, "kubernetes.apiServiceType"),
    ("load balancer without CIDRs", {"kubernetes.apiServiceType": "LoadBalancer"}, "kubernetes.apiCidrs"),
    (
        "load balancer open to the world",
        {"kubernetes.apiServiceType": "LoadBalancer", "kubernetes.apiCidrs": ["0.0.0.0/0"]},
        "kubernetes.apiCidrs",
    ),
    (
        "load balancer open to all of IPv4 in pieces",
        {"kubernetes.apiServiceType": "LoadBalancer", "kubernetes.apiCidrs": ALL_IPV4_BUT_0_8},
        "kubernetes.apiCidrs",
    ),
    ("CIDRs for a ClusterIP service", {"kubernetes.apiCidrs": ["198.51.100.0/24"]}, "kubernetes.apiCidrs"),
    ("a Docker bind address", {"adminBindAddress": "0.0.0.0"}, "adminBindAddress"),
    ("Docker host ports", {"ports.grafana": 3001}, "ports"),
    ("a backup interval cron cannot keep", {"backup.interval": "90m"}, "backup.interval"),
    ("the kubernetes section on a Docker target", {"target": "local", "kubernetes.zones": 4}, "kubernetes"),
]


@pytest.mark.parametrize("overrides, key", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_kubernetes_setting_is_one_line_naming_its_key(overrides, key):
    run = run_program(K8S, overrides)
    assert isinstance(run.error, ConfigError), run.error
    message = str(run.error)
    assert "\n" not in message and f"'{key}'" in message and "stack 'k8s-option-b'" in message, message
    assert run.resources == []


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "kubernetes.tolerations": ["dedicated=aurigraph:NoSchedule", "spot"],
            "kubernetes.nodeSelector": {"pool": "aurigraph"},
        },
        {"kubernetes.apiServiceType": "LoadBalancer", "kubernetes.apiCidrs": ["198.51.100.0/24", "2001:db8::/32"]},
        {"kubernetes.zoneKey": "topology.example.com/rack", "kubernetes.storageClass": "gp3"},
    ],
)
def test_legitimate_kubernetes_settings_are_accepted(overrides):
    run = run_program(K8S, overrides)
    assert run.error is None, run.error
    spec = next(s for n, s in pod_specs(run) if n == "validator-1")
    if "kubernetes.tolerations" in overrides:
        assert spec["tolerations"][0] == {
            "key": "dedicated",
            "operator": "Equal",
            "value": "aurigraph",
            "effect": "NoSchedule",
        }
        assert spec["tolerations"][1] == {"key": "spot", "operator": "Exists"}
        assert spec["nodeSelector"] == {"pool": "aurigraph"}
    if "kubernetes.zoneKey" in overrides:
        assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.example.com/rack"


# ---------------------------------------------------------------- the smoke test's verdicts


def _pod(workload: str, ready: bool, node: str = "n1", **labels: str) -> dict:
    return {
        "metadata": {"labels": {"aurigraph.io/workload": workload, **labels}},
        "spec": {"nodeName": node},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_the_smoke_verdicts_follow_f_the_zones_and_the_backup_age(stack_run):
    import datetime

    from tools import kubesmoke

    outputs = stack_run("k8s-option-b").outputs
    v = "aurigraph.io/group"
    # Two of four validator pods not Ready: 10 of 20 validator nodes down, above f = 6.
    pods = [_pod(f"validator-{i}", ready=i > 2, **{v: "validator"}) for i in range(1, 5)]
    quorum = next(c for c in kubesmoke.check_pods(outputs, pods) if c.name == "validator quorum")
    assert quorum.status == "fail" and "quorum lost: 10 of 20" in quorum.detail
    one_zone = kubesmoke.check_zones(outputs, pods, {"n1": "zone-a"})
    assert one_zone.status == "warn" and "takes 20 (f = 6)" in one_zone.detail
    now = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
    cronjob = {"spec": {"schedule": "0 */6 * * *"}, "status": {"lastSuccessfulTime": "2026-12-02T12:00:00Z"}}
    assert kubesmoke.check_backups(cronjob, 13 * 3600, now).status == "fail"
    assert kubesmoke.check_backups(cronjob, 25 * 3600, now).status == "pass"
    blocked = {"spec": {"selector": {"matchLabels": {v: "validator"}}}, "status": {"disruptionsAllowed": 0}}
    assert kubesmoke.check_budgets([blocked], ["validator"]).status == "warn"
    assert kubesmoke.check_budgets([], ["validator"]).status == "fail"
