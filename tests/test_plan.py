"""The offline plan: snapshots, blast radius of typical changes, and quorum-safe waves."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from tests.helpers import CONTAINER, VOLUME, service_totals
from tests.schema_check import DOCKER_SCHEMA, load
from tools import plan as planner
from tools import replace_paths
from tools.fills import fills_for
from tools.mockrun import run_program, stack_names

REGENERATE = "python -m tools.plan --update-snapshots"


@pytest.fixture(scope="module")
def base():
    return planner.stack_snapshot("option-b")


def plan_for(base, overrides) -> planner.Plan:
    return planner.diff(base, planner.stack_snapshot("option-b", overrides))


def test_the_committed_replace_table_is_what_the_pulumi_docker_schema_says():
    assert json.loads(replace_paths.TABLE.read_text()) == replace_paths.derive(load(DOCKER_SCHEMA))


@pytest.mark.parametrize("stack", stack_names())
def test_committed_snapshot_matches_the_program(stack):
    committed = planner.SNAPSHOTS / f"{stack}.json"
    assert committed.exists(), f"no snapshot for {stack}: run `{REGENERATE}` and commit it"
    current = planner.committed_snapshot_of(stack)
    changes = planner.diff(json.loads(committed.read_text()), current)
    assert planner.dumps(current) == committed.read_text(), (
        f"the resource graph of {stack} changed; review the plan below, then run `{REGENERATE}` and commit:\n"
        + planner.render(changes, f"{stack}: committed snapshot -> program")
    )


def test_no_change_plans_nothing(base):
    p = planner.diff(base, base)
    assert p.changes == [] and p.counts()["same"] > 0


def test_new_validator_image_replaces_the_four_validators_one_wave_each(base):
    p = plan_for(base, {"groups.validator.image": "aurigraph/v11-native:11.1.0"})
    assert p.counts() | {"same": 0} == {"create": 0, "replace": 4, "update": 0, "delete": 0, "same": 0}
    assert p.names("replace") == {"validator-1", "validator-2", "validator-3", "validator-4"}
    assert all(c.replace_keys == ["image"] and c.note == "delete before replace" for c in p.of("replace"))
    assert p.waves() == [["validator-1"], ["validator-2"], ["validator-3"], ["validator-4"]]


def test_canary_image_replaces_validator_1_only(base):
    p = plan_for(base, {"groups.validator.canary": {"image": "aurigraph/v11-native:11.1.0"}})
    assert [(c.action, c.name) for c in p.changes] == [("replace", "validator-1")]


def test_scrape_interval_replaces_prometheus_only(base):
    p = plan_for(base, {"monitoring.scrapeInterval": "15s"})
    assert [(c.action, c.name, c.replace_keys) for c in p.changes] == [("replace", "prometheus", ["uploads"])]


def test_one_more_slim_container_creates_it_and_its_volume_and_rereads_prometheus_targets(base):
    # 17 nodes in 7 containers keeps slim-1..6 exactly as they were (3,3,3,2,2,2 + 2).
    p = plan_for(base, {"groups.slim.containers": 7, "groups.slim.nodes": 17})
    assert {(c.action, c.type, c.name) for c in p.changes} == {
        ("create", CONTAINER, "slim-7"),
        ("create", VOLUME, "slim-7-data"),
        # Prometheus lists every logical node in its scrape config; the new nodes need scraping.
        ("replace", CONTAINER, "prometheus"),
    }


def test_business_memory_updates_in_place(base):
    p = plan_for(base, {"groups.business.memoryMb": 512})
    assert p.names("update") == {"business-1", "business-2", "business-3", "business-4"}
    # No swap: memory_swap follows memory (model/readback.py), in place too.
    assert all(c.keys == ["memory", "memorySwap"] for c in p.changes) and p.of("replace") == []


def test_one_validator_container_fewer_deletes_it_and_keeps_its_data(base):
    # 15 validators in 3 containers of 5 exceeds f = 4 per rollout, so it takes the explicit override.
    p = plan_for(
        base, {"groups.validator.containers": 3, "groups.validator.nodes": 15, "groups.validator.allowQuorumRisk": True}
    )
    deletes = {(c.type, c.name): c.note for c in p.of("delete")}
    assert deletes == {
        (CONTAINER, "validator-4"): "",
        (VOLUME, "validator-4-data"): "refused while protected: lift `protect` first",
    }
    assert p.names("replace") == {"prometheus"}  # the targets and the fault budget in the alert rules
    assert p.of("create") == [] and p.of("update") == []


def test_one_validator_container_fewer_is_refused_without_the_override():
    run = run_program("option-b", {"groups.validator.containers": 3, "groups.validator.nodes": 15})
    assert "f = floor((15 - 1) / 3) = 4" in str(run.error)


def test_a_removed_volume_of_an_unprotected_stack_is_retained_on_the_host():
    dev = planner.stack_snapshot("dev")
    smaller = planner.stack_snapshot("dev", {"groups.slim.containers": 1, "groups.slim.nodes": 1})
    deletes = {c.name: c.note for c in planner.diff(dev, smaller).of("delete")}
    assert deletes == {"slim-2": "", "slim-2-data": "retained on the host, out of the stack"}


def test_a_healthcheck_change_replaces_through_replace_on_changes():
    old = {
        "resources": [
            {
                "urn": "u",
                "type": CONTAINER,
                "name": "n",
                "custom": True,
                "provider": "p",
                "dependencies": [],
                "inputs": {"healthcheck": {"interval": "10s"}},
                "options": {"replaceOnChanges": ["healthcheck"], "deleteBeforeReplace": True},
            }
        ]
    }
    new = json.loads(json.dumps(old))
    new["resources"][0]["inputs"]["healthcheck"]["interval"] = "20s"
    assert [c.action for c in planner.diff(old, new).changes] == ["replace"]
    new["resources"][0]["options"]["replaceOnChanges"] = []
    assert [c.action for c in planner.diff(old, new).changes] == ["update"]


def _max_concurrent_validator_nodes(snap) -> int:
    """The most validator nodes in any set of validator containers with no dependency path
    between any two of them: exactly the sets Pulumi may replace at the same time."""
    containers = {
        r["urn"]: r for r in snap["resources"] if r["type"] == CONTAINER and r["name"].startswith("validator-")
    }
    edges = {u: set(r["dependencies"]) & set(containers) for u, r in containers.items()}

    def reaches(a, b):
        stack, seen = [a], set()
        while stack:
            x = stack.pop()
            if x == b:
                return True
            if x not in seen:
                seen.add(x)
                stack.extend(edges[x])
        return False

    def nodes(u):
        labels = {item["label"]: item["value"] for item in containers[u]["inputs"]["labels"]}
        return len(labels["io.aurigraph.nodes"].split(","))

    best = 0
    for k in range(1, len(containers) + 1):
        for combo in itertools.combinations(containers, k):
            if all(not reaches(a, b) and not reaches(b, a) for a, b in itertools.combinations(combo, 2)):
                best = max(best, sum(nodes(u) for u in combo))
    return best


@pytest.mark.parametrize("stack, budget", [("option-b", 6), ("option-c", 8), ("dev", 1)])
def test_no_validators_pulumi_could_replace_together_exceed_the_fault_budget(stack, budget):
    snap = planner.stack_snapshot(stack)
    assert snap["outputs"]["faultBudget"] == budget
    assert _max_concurrent_validator_nodes(snap) <= budget


def test_the_concurrency_check_sees_an_unsafe_layout():
    snap = planner.stack_snapshot(
        "option-b", {"groups.validator.maxUnavailable": 2, "groups.validator.allowQuorumRisk": True}
    )
    assert _max_concurrent_validator_nodes(snap) == 10 > 6


def test_snapshots_hold_no_secret():
    chosen = {"dbPassword": "db-chosen-password-1", "grafanaAdminPassword": "grafana-chosen-password-3"}
    run = run_program("option-b", secrets=chosen)
    text = planner.dumps(planner.snapshot(run))
    for value in list(chosen.values()) + list(run.secret_values):
        assert value not in text
    assert re.search(r"QUARKUS_DATASOURCE_PASSWORD=\[secret:[0-9a-f]{8}\]", text)


HOSTILE_SECRETS = {
    "dbPassword": 'it\'s-a "db" pass\\word $HOME',
    "redisPassword": "quote\"back\\slash'single",
    "grafanaAdminPassword": "ünïcode-%2F-pass/word&x=1",
}


def test_snapshots_mask_every_rendered_form_of_a_secret():
    """The init SQL doubles quotes, redis.conf backslash-escapes, JSON escapes: each form is masked."""
    run = run_program("option-b", secrets=HOSTILE_SECRETS)
    assert run.error is None, run.error
    text = planner.dumps(planner.snapshot(run))
    for secret in HOSTILE_SECRETS.values():
        for form in planner._forms(secret):
            assert form not in text, form
    # The renderers did write these forms, so the masking was exercised rather than vacuous.
    uploads = " ".join(u["content"] for r in run.resources for u in r.inputs.get("uploads", []))
    assert "it''s-a" in uploads and 'quote\\"back\\\\slash' in uploads


def test_a_changed_password_is_a_change_in_the_plan_that_names_what_it_replaces():
    base = planner.stack_snapshot("option-b")
    plan = planner.diff(base, planner.stack_snapshot("option-b", secrets={"dbPassword": "db-chosen-password-1"}))
    rotated = {c.name for c in plan.changes if c.secret}
    # PostgreSQL applies it on start; every node gets it in its env; nothing else carries it.
    assert rotated == {"postgres"} | {
        f"{g}-{i}" for g, n in (("validator", 4), ("business", 4), ("slim", 6)) for i in range(1, n + 1)
    }
    text = planner.render(plan, "rotation")
    assert "a changed secret (password rotation) reaches: business-1" in text


def test_a_grafana_password_rotation_replaces_grafana_only():
    base = planner.stack_snapshot("option-b")
    plan = planner.diff(base, planner.stack_snapshot("option-b", secrets={"grafanaAdminPassword": "grafana-pass-12"}))
    assert {c.name for c in plan.changes if c.secret} == {"grafana"}
    # Besides Grafana, only the generated password it no longer needs goes.
    assert {(c.name, c.action) for c in plan.changes} == {("grafana", "replace"), ("grafana-admin-password", "delete")}


def test_cli_prints_the_plan_of_a_config_change(capsys):
    assert planner.main(["option-b", "--set", "groups.business.memoryMb=512", "--diff", "option-b"]) == 0
    out = capsys.readouterr().out
    assert "update 4" in out and "business-1  [memory, memorySwap]" in out


def test_cli_plans_against_a_git_ref(capsys):
    # The snapshot committed at HEAD is the base: what a reviewer runs against the target branch.
    import subprocess

    from tests.helpers import REPO

    at_head = subprocess.run(
        ["git", "-C", str(REPO), "show", "HEAD:snapshots/option-c.json"], capture_output=True, text=True, check=True
    ).stdout
    assert planner.main(["option-c", "--diff", "HEAD", "--json"]) == 0
    expected = planner.diff(json.loads(at_head), planner.stack_snapshot("option-c")).to_json()
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(expected))


def test_cli_refuses_an_unknown_base(capsys):
    assert planner.main(["option-b", "--diff", "no-such-thing"]) == 64
    assert "not a snapshot file, a stack" in capsys.readouterr().err


def test_cli_reports_a_bad_config_as_an_error(capsys):
    assert planner.main(["option-b", "--set", "groups.validator.containers=0"]) == 1
    assert "'groups.validator.containers'" in capsys.readouterr().err


def test_cli_summary_shows_components_waves_and_capacity(capsys):
    assert planner.main(["option-b"]) == 0
    out = capsys.readouterr().out
    assert "validator        4 Container, 4 Volume" in out
    assert "validator  4 waves: validator-1 | validator-2 | validator-3 | validator-4" in out
    assert out.count("\n") < 40 and f"capacity: {14 + service_totals('option-b')[0]} containers" in out


def test_cli_fills_placeholders_with_config_set_path_syntax(capsys):
    from tools.fills import OPERATOR_CIDR, TEST_SSH_KEY

    assert (
        planner.main(
            [
                "aws-option-b",
                "--set",
                f"vm.adminCidrs[0]={OPERATOR_CIDR}",
                "--set",
                f'vm["sshPublicKey"]={TEST_SSH_KEY}',
                "--json",
            ]
        )
        == 0
    )
    snap = json.loads(capsys.readouterr().out)
    firewall = next(r for r in snap["resources"] if r["type"] == "aws:ec2/securityGroup:SecurityGroup")
    assert firewall["inputs"]["ingress"][0]["cidrBlocks"] == [OPERATOR_CIDR]


@pytest.mark.parametrize(
    "path,segments",
    [
        ("groups.validator.image", ["groups", "validator", "image"]),
        ("vm.adminCidrs[0]", ["vm", "adminCidrs", 0]),
        ('groups["validator"].canary.image', ["groups", "validator", "canary", "image"]),
        ('serviceImages["a.b"]', ["serviceImages", "a.b"]),
        ("aws:region", ["aws:region"]),
    ],
)
def test_config_paths_follow_the_cli_grammar(path, segments):
    from tools.mockrun import parse_path

    assert parse_path(path) == segments


def test_the_readme_plan_command_runs_as_written():
    import re
    import shlex
    import subprocess
    import sys

    from tests.helpers import REPO

    readme = (REPO / "README.md").read_text()
    command = re.search(r"^venv/bin/python -m tools\.plan .*$", readme, re.M).group(0)
    argv = shlex.split(command)
    done = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wave 4: validator-4" in done.stdout


@pytest.mark.parametrize("stack,validators,f,down", [("option-b", 20, 6, 5), ("option-c", 25, 8, 5)])
def test_the_plan_says_how_many_validator_nodes_an_image_rollout_takes_down_against_f(
    capsys, stack, validators, f, down
):
    assert planner.main([stack, "--set", "groups.validator.image=aurigraph/v11-native:11.0.1", "--diff", stack]) == 0
    out = capsys.readouterr().out
    assert f"at most {down} of {validators} validator nodes down at once (f = {f})" in out
    assert "whole host restarts" not in out


def test_the_plan_says_when_the_whole_host_restarts_and_warns_when_it_rides_along_with_a_rollout(capsys):
    base = planner.stack_snapshot("gcp-option-b", fills_for("gcp-option-b"))
    resized = planner.stack_snapshot("gcp-option-b", {**fills_for("gcp-option-b"), "vm.size": "n2-standard-64"})
    plan = planner.diff(base, resized)
    assert [c.name for c in plan.host_restarts()] == ["gcp-vm"]
    text = planner.render(plan, "resize")
    assert "the whole host restarts: all 20 validator nodes down at once" in text and "WARNING" not in text
    both = planner.stack_snapshot(
        "gcp-option-b",
        {
            **fills_for("gcp-option-b"),
            "vm.size": "n2-standard-64",
            "groups.validator.image": "aurigraph/v11-native:11.0.1",
        },
    )
    assert "WARNING: the host restart rides along" in planner.render(planner.diff(base, both), "both")


def test_a_rotation_is_planned_offline_with_set_secret_and_the_value_never_shows(capsys):
    new = "N3w-Passw0rd-long!'x"
    assert planner.main(["option-b", "--set-secret", f"dbPassword={new}", "--diff", "option-b"]) == 0
    captured = capsys.readouterr()
    assert new not in captured.out + captured.err
    assert "dbPassword=[secret]" in captured.out
    assert "a changed secret (password rotation) reaches: business-1" in captured.out
    assert "postgres" in captured.out.split("reaches:")[1].splitlines()[0]
    assert planner.main(["option-b", "--set-secret", f"dbPassword={new}", "--json", "--diff", "option-b"]) == 0
    assert new not in capsys.readouterr().out
    # A bare value is refused without being echoed.
    assert planner.main(["option-b", "--set-secret", "dbPassword", "--diff", "option-b"]) == 64
    assert "the value is not shown" in capsys.readouterr().err


def test_the_plan_says_plainly_when_a_change_would_replace_a_protected_or_retained_volume():
    old = {
        "resources": [
            {
                "urn": "u",
                "type": VOLUME,
                "name": "validator-1-data",
                "custom": True,
                "provider": "p",
                "dependencies": [],
                "inputs": {"name": "option-b-validator-1-data", "driver": "local"},
                "options": {
                    "replaceOnChanges": [],
                    "deleteBeforeReplace": False,
                    "protect": True,
                    "retainOnDelete": True,
                    "ignoreChanges": ["labels"],
                },
            }
        ]
    }
    new = json.loads(json.dumps(old))
    new["resources"][0]["inputs"]["name"] = "renamed"
    text = planner.render(planner.diff(old, new), "t")
    assert "PROTECTED: the engine refuses to replace it and `pulumi up` fails" in text
    old["resources"][0]["options"]["protect"] = False
    assert "RETAINED: the old one stays on the host" in planner.render(planner.diff(old, new), "t")
    # Labels are ignored after creation: a label change is no change at all.
    labelled = json.loads(json.dumps(old))
    labelled["resources"][0]["inputs"]["labels"] = [{"label": "io.aurigraph.nodes", "value": "slim-4a"}]
    assert planner.diff(old, labelled).changes == []
