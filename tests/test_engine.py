"""The real Pulumi engine: every stack previewed, deployed, rolled out and back by the actual CLI.

The CLI, its config rules, secrets encryption, the step generator, delete-before-replace,
protect, retainOnDelete and the policy pack are all real. The providers are stand-ins
(tests/engine/standin.py): what these tests prove stops at the provider boundary. Nothing here
says that Docker or a cloud accepts the inputs, or how long real operations take.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from tests.engine.harness import engine_cli
from tests.helpers import REPO
from tools import plan as planner
from tools.engine import (
    CONTAINER,
    ENGINE_BIN,
    VOLUME,
    EngineProject,
    down_intervals,
    most_nodes_down,
    nodes_per_container,
    steps_by_urn,
    timed_up,
    urn_name,
    urn_token,
)
from tools.fills import fills_for
from tools.mockrun import stack_names

pytestmark = pytest.mark.engine

NEW_IMAGE = "aurigraph/v11-native:11.0.1"
REPLACE_OPS = {"replace", "create-replacement", "delete-replaced"}
# Seconds each stand-in container create or delete takes in the rollout tests.
CONTAINER_SECONDS = 0.4


@pytest.fixture
def project(tmp_path):
    return EngineProject(tmp_path, engine_cli())


def _custom_resources(project: EngineProject, stack: str, token: str) -> dict[str, dict]:
    """URN -> state entry, from `pulumi stack export`."""
    return {r["urn"]: r for r in project.export(stack)["deployment"].get("resources", []) if r["type"] == token}


# ---------------------------------------------------------------- 1. every stack previews


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_file_previews(project, stack):
    project.init(stack, fills_for(stack))
    result = project.run("preview", "--stack", stack)
    assert "Traceback" not in result.text
    assert re.search(r"\d+ to create", result.out), result.out[-3000:]


# ---------------------------------------------------------------- 2. up, no perpetual diff, destroy


@pytest.mark.parametrize("stack", ["dev", "option-b", "option-c"])
def test_up_leaves_no_diff_and_destroy_keeps_the_data(project, stack):
    project.init(stack)
    project.up(stack)
    # The stand-in holds the state as the real docker provider reads it back (readback.json) and
    # diffs against it: a no-op `up` would show every value Docker rewrites.
    project.run("preview", "--expect-no-changes", "--stack", stack)
    project.run("refresh", "--yes", "--expect-no-changes", "--stack", stack)
    project.run("preview", "--expect-no-changes", "--stack", stack)
    volumes = sorted(urn_name(u) for u in _custom_resources(project, stack, VOLUME))
    assert volumes, "the stack has data volumes"
    project.reset_timeline()

    result = project.run("destroy", "--yes", "--skip-preview", "--stack", stack, check=False)

    deleted_volumes = [e for e in project.timeline() if e["op"] == "delete" and e["type"] == VOLUME]
    assert deleted_volumes == [], "a data volume reached the provider's Delete"
    if _protects_data(stack):
        assert result.code != 0, "destroy of a protected stack succeeded"
        assert "protect" in result.text
        refused = [v for v in volumes if f'Volume::{v}" cannot be deleted' in result.text]
        assert refused == volumes, f"destroy's refusal names {refused} of {volumes}:\n{result.text[-3000:]}"
        # The README's teardown runbook: lift protection, destroy again; the volumes stay on the host.
        project.run("state", "unprotect", "--all", "--yes", "--stack", stack)
        project.run("destroy", "--yes", "--skip-preview", "--stack", stack)
        assert not [e for e in project.timeline() if e["op"] == "delete" and e["type"] == VOLUME]
    else:
        assert result.code == 0, result.text[-3000:]
        assert not _custom_resources(project, stack, VOLUME), "retained volumes left the state"


def _protects_data(stack: str) -> bool:
    return "protectData: true" in (REPO / f"Pulumi.{stack}.yaml").read_text()


def test_smoke_reads_a_deployed_stacks_outputs_through_the_cli(project):
    """`tools.smoke --stack` asks the real CLI for the outputs; with nothing listening on the
    stand-in stack's endpoints it reports FAILED checks, not a crash."""
    project.init("dev")
    project.up("dev")
    done = subprocess.run(
        [sys.executable, "-m", "tools.smoke", "--stack", "dev", "--json"],
        cwd=REPO,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["result"] == "FAILED" and report["checks"]


# ---------------------------------------------------------------- 3 and 4. rollout and rollback


@pytest.mark.parametrize("stack", ["option-b", "option-c"])
def test_validator_image_rollout_stays_within_the_fault_budget_and_rolls_back(project, stack, record_property):
    project.init(stack)
    project.up(stack)
    before = project.outputs(stack)
    f = before["faultBudget"]
    validator_nodes = nodes_per_container(before, "validator")
    old_images = {urn: r["inputs"]["image"] for urn, r in _custom_resources(project, stack, CONTAINER).items()}

    project.set(stack, "groups.validator.image", NEW_IMAGE)
    steps = steps_by_urn(project.preview_json(stack))
    replaced = {urn_name(u) for u, op in steps.items() if op in REPLACE_OPS}
    changed = {urn_name(u) for u, op in steps.items() if op not in ("same", "read")}
    assert replaced == set(validator_nodes), f"replaced: {sorted(replaced)}"
    assert changed == replaced, f"changed besides the validators: {sorted(changed - replaced)}"

    rollout = timed_up(project, stack, validator_nodes, CONTAINER_SECONDS)
    assert set(rollout.down) == set(validator_nodes), "every validator container was replaced"
    worst, makespan = rollout.most_nodes_down, rollout.makespan
    assert worst <= f, f"{worst} validator nodes down at once; fault budget f = {f}"
    waves = len(validator_nodes)  # one container per wave: 5 nodes each, f >= 5
    lower_bound = waves * 2 * CONTAINER_SECONDS
    record_property(
        "rollout",
        {
            "stack": stack,
            "most_validator_nodes_down": worst,
            "f": f,
            "makespan_s": round(makespan, 2),
            "lower_bound_s": lower_bound,
        },
    )
    print(
        f"\n{stack} rollout: at most {worst} of f={f} validator nodes down; "
        f"makespan {makespan:.2f}s against a lower bound of {lower_bound:.2f}s"
    )
    assert makespan >= lower_bound * 0.95

    # Rollback: revert the config and `up`.
    project.run("config", "rm", "--path", "groups.validator.image", "--stack", stack)
    project.up(stack)
    now = {urn: r["inputs"]["image"] for urn, r in _custom_resources(project, stack, CONTAINER).items()}
    assert now == old_images
    volume_ops = [e for e in project.timeline() if e["type"] == VOLUME]
    assert volume_ops == [], f"a data volume was touched during rollout or rollback: {volume_ops[:3]}"


def test_a_rollout_stops_at_the_first_unhealthy_container_and_a_rerun_completes(project, record_property):
    """Failure injection: validator-2's new container never turns healthy. `up` fails there, with
    the later waves untouched on the old image, and never more than f validator nodes down."""
    stack = "option-b"
    project.init(stack)
    project.up(stack)
    outputs = project.outputs(stack)
    f = outputs["faultBudget"]
    validator_nodes = nodes_per_container(outputs, "validator")
    project.set(stack, "groups.validator.image", NEW_IMAGE)
    project.reset_timeline()

    bad = f"{stack}-validator-2"
    failed = project.up(
        stack,
        env={"AURIGRAPH_STANDIN_FAIL": bad, "AURIGRAPH_STANDIN_SECONDS": f"{CONTAINER}={CONTAINER_SECONDS},*=0"},
        check=False,
    )
    assert failed.code != 0 and "container failed to be in healthy state" in failed.text, failed.text[-3000:]
    events = project.timeline()
    touched = {urn_name(e["urn"]) for e in events if e["type"] == CONTAINER}
    assert touched == {"validator-1", "validator-2"}, f"the rollout went on past the failure: {sorted(touched)}"
    end = max(e["end"] for e in events)
    down = down_intervals(events, set(validator_nodes))
    down["validator-2"] = (min(e["start"] for e in events if urn_name(e["urn"]) == "validator-2"), end)
    worst = most_nodes_down(down, validator_nodes)
    assert worst <= f, f"{worst} validator nodes down at once; f = {f}"
    images = {
        urn_name(u): r["inputs"]["image"]
        for u, r in _custom_resources(project, stack, CONTAINER).items()
        if urn_name(u) in validator_nodes
    }
    assert images["validator-1"] == images["validator-2"] == NEW_IMAGE
    assert images["validator-3"] == images["validator-4"] != NEW_IMAGE, images

    # The fix (here: the image turns healthy) and a rerun: the rollout completes from where it stopped.
    project.reset_timeline()
    project.up(stack, env={"AURIGRAPH_STANDIN_SECONDS": f"{CONTAINER}={CONTAINER_SECONDS},*=0"})
    rerun = project.timeline()
    assert {urn_name(e["urn"]) for e in rerun if e["type"] == CONTAINER} == {
        "validator-2",
        "validator-3",
        "validator-4",
    }
    assert most_nodes_down(down_intervals(rerun, set(validator_nodes)), validator_nodes) <= f
    images = {
        urn_name(u): r["inputs"]["image"]
        for u, r in _custom_resources(project, stack, CONTAINER).items()
        if urn_name(u) in validator_nodes
    }
    assert set(images.values()) == {NEW_IMAGE}
    project.run("preview", "--expect-no-changes", "--stack", stack)
    record_property(
        "stopped_rollout", {"replaced_before_stop": sorted(touched), "most_validator_nodes_down": worst, "f": f}
    )


# ---------------------------------------------------------------- 5. bad config through the CLI

BAD_CONFIG = [
    (["config", "set", "--path", "groups.validater.containers", "4"], "groups.validater"),
    (["config", "set", "--type", "int", "--path", "groups.validator.containers", "0"], "groups.validator.containers"),
    (["config", "set", "dbPassword", "plaintext-password-1"], "dbPassword"),
]


@pytest.mark.parametrize("command,key", BAD_CONFIG, ids=["misspelled-key", "zero-count", "plaintext-password"])
def test_bad_config_fails_with_one_line_naming_the_key(project, command, key):
    project.init("dev")
    project.run(*command, "--stack", "dev")
    for verb in (["preview"], ["up", "--yes"]):
        result = project.run(*verb, "--stack", "dev", check=False)
        assert result.code != 0
        assert "Traceback" not in result.text and 'File "' not in result.text
        # The CLI shows a diagnostic twice (in the progress view and under Diagnostics).
        messages = {
            line.split("error: ", 1)[1] for line in result.text.splitlines() if key in line and "error: " in line
        }
        assert len(messages) == 1, f"expected one error naming {key}:\n{result.text}"
        assert "\n" not in messages.pop()
    assert not project.export("dev")["deployment"].get("resources"), "something was registered"


# ---------------------------------------------------------------- 6. secrets


def test_secrets_never_reach_state_or_outputs_in_plaintext(project):
    secrets = {
        "dbPassword": "Db0penSesame7aurigraph",
        "redisPassword": "Redis0penSesame7aurigraph",
        "grafanaAdminPassword": "Grafana0penSesame7aurigraph",
    }
    project.init("dev")
    for key, value in secrets.items():
        project.set("dev", key, value, secret=True)
    project.up("dev")
    export = project.run("stack", "export", "--stack", "dev").out
    outputs = project.run("stack", "output", "--json", "--stack", "dev").out
    state_files = "".join(p.read_text() for p in (project.root / "state").rglob("*.json"))
    for key, value in secrets.items():
        for where, text in (("stack export", export), ("stack output --json", outputs), ("state files", state_files)):
            assert value not in text, f"{key} in plaintext in {where}"
    shown = project.run("stack", "export", "--show-secrets", "--stack", "dev").out
    assert all(v in shown for v in secrets.values()), "the secrets did reach the containers' inputs"


def test_generated_passwords_are_secret_in_state(project):
    project.init("dev")
    project.up("dev")
    shown = json.loads(project.run("stack", "export", "--show-secrets", "--stack", "dev").out)
    # With --show-secrets a secret stays wrapped: {"<signature>": ..., "plaintext": "<JSON>"}.
    generated = [
        json.loads(r["outputs"]["result"]["plaintext"])
        for r in shown["deployment"]["resources"]
        if r["type"] == "random:index/randomPassword:RandomPassword"
    ]
    assert generated, "the dev stack generates its passwords"
    export = project.run("stack", "export", "--stack", "dev").out
    for value in generated:
        assert value not in export


# ---------------------------------------------------------------- 7. the policy pack


def test_policy_pack_installs_with_pulumi_install_and_passes_option_b(tmp_path):
    project = EngineProject(tmp_path, engine_cli(), own_venv=True)
    project.run("install", cwd=project.dir / "policy")  # the README's command for the pack's virtualenv
    assert (project.dir / "policy" / "venv" / "bin" / "python").exists()
    project.init("option-b")
    result = project.run("preview", "--policy-pack", "policy", "--stack", "option-b")
    assert "aurigraph-guardrails" in result.text


def test_policy_pack_blocks_public_admin_uis_on_a_cloud_vm(project):
    stack = "aws-option-b"
    project.init(stack, fills_for(stack))
    project.run("config", "set", "adminBindAddress", "0.0.0.0", "--stack", stack)
    result = project.run("preview", "--policy-pack", "policy", "--stack", stack, check=False)
    assert result.code != 0
    assert "admin-ui-not-public" in result.text, result.text[-3000:]
    assert "mandatory" in result.text.lower()


# ---------------------------------------------------------------- 8. the README's quick start


def _readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, f"no sh block under ## {heading}"
    return match.group(1)


def test_readme_quick_start_verbatim(tmp_path):
    project = EngineProject(tmp_path, engine_cli(), own_venv=True)
    script = _readme_block("Quick start")
    env = {**project.env, "PULUMI_BACKEND_URL": "", "PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_SKIP_CONFIRMATIONS": "true"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (project.root / "home" / ".pulumi" / "stacks" / "aurigraph-cluster" / "dev.json").exists()


def test_readme_offline_preview_verbatim(project):
    """The README's offline preview, as typed, from the project's root."""
    block = re.search(r"To preview a stack offline.*?```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    bin_dir = project.dir / "tests" / "engine" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec"):
        (bin_dir / tool).symlink_to(ENGINE_BIN / tool)
    (bin_dir / "pulumi-home").symlink_to(project.root / "pulumi-home")
    env = {**project.env, "PATH": os.environ["PATH"]}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=project.dir, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert re.search(r"\d+ to create", proc.stdout)


# ---------------------------------------------------------------- 9. the offline plan against the engine

PLAN_CHANGES = {
    "validator image": {"groups.validator.image": NEW_IMAGE},
    "business image": {"groups.business.image": NEW_IMAGE},
    "slim image": {"groups.slim.image": NEW_IMAGE},
    "scrape interval": {"monitoring.scrapeInterval": "15s"},
    "tuning": {"tuning.batchSize": 120000},
    "one container more": {"groups.slim.containers": 7, "groups.slim.nodes": 17},
    "one fewer, quorum override": {
        "groups.validator.containers": 3,
        "groups.validator.nodes": 15,
        "groups.validator.allowQuorumRisk": True,
    },
    "canary": {"groups.business.canary.image": NEW_IMAGE},
}
# Set with `pulumi config set --secret` on the engine's side.
PLAN_SECRET_CHANGES = {"a password": {"dbPassword": "Db0penSesame7aurigraph"}}
ENGINE_TO_PLAN = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "delete": "delete",
    "same": "same",
    "read": "same",
}


def _engine_actions(preview: dict) -> dict[str, str]:
    actions: dict[str, str] = {}
    for urn, op in steps_by_urn(preview).items():
        actions[urn] = ENGINE_TO_PLAN[op]
    return actions


def test_offline_plan_agrees_with_the_engine(project):
    stack = "option-b"
    stack_keys = set(yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"])
    assert (
        not {
            f"aurigraph-cluster:{p.split('.')[0]}"
            for c in [*PLAN_CHANGES.values(), *PLAN_SECRET_CHANGES.values()]
            for p in c
        }
        & stack_keys
    )
    project.init(stack)
    project.up(stack)
    baseline = planner.stack_snapshot(stack)
    disagreements = []
    cases = [(label, change, False) for label, change in PLAN_CHANGES.items()]
    cases += [(label, change, True) for label, change in PLAN_SECRET_CHANGES.items()]
    for label, change, secret in cases:
        for path, value in change.items():
            project.set(stack, path, value, secret=secret)
        preview = project.preview_json(stack, check=False)
        engine = {
            u: a for u, a in _engine_actions(preview).items() if not urn_token(u).startswith(("pulumi:", "aurigraph:"))
        }
        predicted = planner.diff(
            baseline, planner.stack_snapshot(stack, None if secret else change, secrets=change if secret else None)
        )
        plan = {c.urn: c.action for c in predicted.changes}
        for urn in sorted(set(engine) | set(plan)):
            e, p = engine.get(urn, "same"), plan.get(urn, "same")
            if e != p:
                disagreements.append(f"{label}: {urn_name(urn)} engine={e} plan={p}")
        # The engine refuses a preview that deletes a protected resource; the plan says so in a note.
        refused = {d["urn"] for d in preview.get("diagnostics", []) if d["severity"] == "error" and "urn" in d}
        noted = {c.urn for c in predicted.changes if c.note.startswith("refused while protected")}
        if refused != noted:
            disagreements.append(f"{label}: engine refused {sorted(refused)}, plan noted {sorted(noted)}")
        # Back to the baseline: option-b's stack file sets none of these top-level keys, and
        # `config rm --path a.b.c` would leave `a.b: {}` behind (an empty canary is an error).
        for key in {path.split(".")[0] for path in change}:
            project.run("config", "rm", key, "--stack", stack)
    assert disagreements == [], "\n".join(disagreements)


# ---------------------------------------------------------------- 10. upgrading a deployed stack

# `pulumi stack export` of option-b as deployed (through the stand-ins) by the program before the
# service registry split the Monitoring component (commit a8f6340). Secrets in it are encrypted
# with the harness's passphrase.
BEFORE_RESTRUCTURE = REPO / "tests" / "engine" / "fixtures" / "option-b-before-restructure.json.gz"


def test_a_stack_deployed_before_the_monitoring_split_keeps_every_resource_through_aliases(project, tmp_path):
    import gzip

    project.init("option-b")
    state = tmp_path / "before.json"
    state.write_text(gzip.open(BEFORE_RESTRUCTURE, "rt").read())
    project.run("stack", "import", "--stack", "option-b", "--file", str(state))
    before = {r["urn"]: r for r in project.export("option-b")["deployment"]["resources"]}

    changes = {urn: op for urn, op in steps_by_urn(project.preview_json("option-b")).items() if op != "same"}
    components = {
        "aurigraph:index:Exporter",
        "aurigraph:index:Prometheus",
        "aurigraph:index:Grafana",
        "aurigraph:index:Monitoring",
    }
    # Only components come and go: the new ones are created and the old Monitoring goes. Every
    # container, volume, image and password kept its identity through an alias: none is created
    # or deleted. (Containers are updated or replaced in place for the later hardening; volumes,
    # images and passwords are untouched.)
    assert sorted(op for u, op in changes.items() if urn_token(u) == "aurigraph:index:Monitoring") == ["delete"]
    # Alertmanager and the backups (#13) are new: their components and resources are created (the
    # backup role's password under Database too); nothing else is.
    new = {
        u
        for u in changes
        if "aurigraph:index:Alerting" in u or "aurigraph:index:Backup" in u or u.endswith("::postgres-backup-password")
    }
    assert len([u for u, op in changes.items() if op == "create" and u not in new]) == 6
    assert {op for u, op in changes.items() if urn_token(u) not in components and u not in new} <= {"update", "replace"}
    kept = {
        "docker:index/volume:Volume",
        "docker:index/remoteImage:RemoteImage",
        "random:index/randomPassword:RandomPassword",
    }
    assert not [u for u in changes if urn_token(u) in kept and u not in new]

    project.reset_timeline()
    project.up("option-b")
    assert not [e for e in project.timeline() if e["type"] in kept and e["urn"] not in new], (
        "no volume, image or password was touched"
    )
    after = {r["urn"]: r for r in project.export("option-b")["deployment"]["resources"]}
    moved = {
        u: r for u, r in after.items() if r.get("custom") and r["type"] in kept and u not in before and u not in new
    }
    assert moved and all(r["id"] in {b.get("id") for b in before.values()} for r in moved.values())
    project.run("preview", "--expect-no-changes", "--stack", "option-b")


# ---------------------------------------------------------------- 11. a VM and its data disk

NEWER_AMI = {
    "aws:ec2/getAmi:getAmi": {
        "id": "ami-0newer0debian12",
        "imageId": "ami-0newer0debian12",
        "name": "debian-12-amd64-20991231-0000",
        "architecture": "x86_64",
    }
}


def test_a_newer_image_never_replaces_the_vm_and_its_data_volume_outlives_a_replacement(project):
    stack = "aws-option-b"
    project.init(stack, fills_for(stack))
    project.up(stack)
    # The distribution publishes a newer AMI: nothing changes.
    project.run(
        "preview", "--expect-no-changes", "--stack", stack, env={"AURIGRAPH_STANDIN_INVOKES": json.dumps(NEWER_AMI)}
    )

    # Upgrading the base image is deliberate: vm.image. The instance is replaced (deleted first),
    # the attachment follows it, and the data volume is neither touched nor replaced.
    project.set(stack, "vm.image", "ami-0123456789abcdef0")
    steps = steps_by_urn(project.preview_json(stack))
    assert {
        urn_token(u): op
        for u, op in steps.items()
        if urn_token(u) in ("aws:ec2/instance:Instance", "aws:ec2/volumeAttachment:VolumeAttachment")
    } == {"aws:ec2/instance:Instance": "replace", "aws:ec2/volumeAttachment:VolumeAttachment": "replace"}
    assert all(op == "same" for u, op in steps.items() if urn_token(u) == "aws:ebs/volume:Volume")
    project.reset_timeline()
    project.up(stack)
    touched = {(e["op"], e["type"]) for e in project.timeline()}
    assert ("delete", "aws:ec2/instance:Instance") in touched and ("create", "aws:ec2/instance:Instance") in touched
    assert not [t for t in touched if t[1] == "aws:ebs/volume:Volume"], touched
    (volume,) = _custom_resources(project, stack, "aws:ebs/volume:Volume").values()
    assert volume["protect"] is True


# ---------------------------------------------------------------- cloud update semantics


def test_a_gcp_size_change_stops_the_vm_in_place_and_never_touches_its_data_disk(project):
    """A new vm.size on GCP is applied by stopping the VM (allow_stopping_for_update; the stand-in
    refuses it otherwise, as the provider does): an update, not a replacement."""
    stack = "gcp-option-b"
    project.init(stack, fills_for(stack))
    project.up(stack)
    project.set(stack, "vm.size", "n2-standard-64")
    steps = steps_by_urn(project.preview_json(stack))
    changed = {urn_token(u): op for u, op in steps.items() if op not in ("same", "read")}
    assert changed == {"gcp:compute/instance:Instance": "update"}, changed
    project.reset_timeline()
    project.up(stack)
    assert [e["op"] for e in project.timeline()] == ["update"]


def test_a_value_the_cloud_api_refuses_fails_the_preview_as_the_provider_would(tmp_path):
    """The stand-ins check inputs against tests/engine/schemas/constraints.json in Check, as the
    real providers validate: a Docker volume name starting with `_`, capitals in a GCP label."""
    project = EngineProject(tmp_path, engine_cli(), program=REPO / "tests" / "engine" / "programs" / "refused")
    project.init("refused")
    project.set("refused", "gcp:project", "aurigraph-test")
    result = project.run("preview", "--stack", "refused", check=False)
    assert result.code != 0
    # The engine stops at the first refusal, whichever resource it checks first.
    docker_refused = "invalid value for name" in result.text and "got '_starts-with-an-underscore'" in result.text
    gcp_refused = "invalid value for labels[stack]" in result.text and "got 'Prod-GCP'" in result.text
    assert docker_refused or gcp_refused, result.text[-2000:]


# ---------------------------------------------------------------- day-2 changes never touch data

DAY2 = {
    "option-b to option-c": [{"density": "option-c"}],
    # One after another on the same stack: each group grows by one container, then a canary.
    "growth and a canary": [
        {"groups.validator.containers": 5, "groups.validator.nodes": 25},
        {"groups.business.containers": 5, "groups.business.nodes": 20},
        {"groups.slim.containers": 7, "groups.slim.nodes": 17},
        {"groups.business.canary.image": NEW_IMAGE},
    ],
}


@pytest.mark.parametrize("change", list(DAY2), ids=list(DAY2))
def test_day_2_changes_on_a_protected_stack_never_replace_a_data_volume(project, change):
    """On a protected stack a volume the engine had to replace would fail the `up`; unprotected, it
    would be replaced by an empty one. Growth, density and canaries must never need either."""
    stack = "option-b"
    project.init(stack)
    project.up(stack)
    for step in DAY2[change]:
        for path, value in step.items():
            project.set(stack, path, value)
        steps = steps_by_urn(project.preview_json(stack), types=[VOLUME])
        touched = {urn_name(u): op for u, op in steps.items() if op not in ("same", "create")}
        assert touched == {}, f"{step} touches data volumes: {touched}"
        project.reset_timeline()
        project.up(stack)
        assert not [e for e in project.timeline() if e["type"] == VOLUME and e["op"] != "create"]
    project.run("preview", "--expect-no-changes", "--stack", stack)


# ---------------------------------------------------------------- the deploy workflow's plan and apply


def _workflow_command(mode: str, program: str, stack: str) -> list[str]:
    """The `pulumi ...` command stack.yml runs in `mode`, as arguments for the harness."""
    from tests.test_workflows import step

    line = step(mode, run=f"pulumi {program}")["run"].replace("\\\n", " ").split("|")[0]
    args = [a.replace("$STACK", stack) for a in shlex.split(line)[1:]]
    return [a for a in args if a != "--non-interactive"]  # the harness adds it


def test_deploy_applies_the_saved_plan_and_refuses_what_the_approvers_did_not_see(project):
    """The deploy workflow's own commands (stack.yml, modes plan and apply) against the real engine:
    the saved plan keeps secrets encrypted, `up --plan` applies it, and a change made after the
    preview is refused before it reaches a container."""
    stack, password = "option-b", "Db0penSesame7aurigraph"
    project.init(stack)
    project.set(stack, "dbPassword", password, secret=True)
    project.run(*_workflow_command("plan", "preview", stack))
    assert password not in (project.dir / "plan.json").read_text()
    project.run(*_workflow_command("apply", "up", stack))
    project.run("preview", "--expect-no-changes", "--stack", stack)

    project.run(*_workflow_command("plan", "preview", stack))
    project.set(stack, "groups.validator.image", NEW_IMAGE)  # merged after the approved preview
    project.reset_timeline()
    refused = project.run(*_workflow_command("apply", "up", stack), check=False)
    assert refused.code != 0 and "violates plan" in refused.text, refused.text[-2000:]
    assert not [e for e in project.timeline() if e["type"] == CONTAINER and e["op"] != "read"]
