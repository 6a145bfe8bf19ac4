"""Every command the README shows works as printed, and the figures it prints are the tools' own.

Each ```sh block is run here, run by another test, or checked for what can be checked without a
Docker host or a cloud (the keys it sets exist, the arguments parse, the ports are the
registry's). A new block that none of these covers fails `test_every_command_block_is_covered`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from model.config import AlertingConfig, StackConfig
from model.services import PUBLISHED
from render.backup import BACKUP_SCRIPT
from tests.helpers import REPO

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```(?:\n```\n(.*?)```)?", README, re.S)  # (commands, printed output)

# The first command of each block -> how it is covered.
COVERED = {
    "export PULUMI_BACKEND_URL": "run verbatim by tests/test_engine.py::test_readme_quick_start_verbatim",
    "./scripts/test": "run by .ci/run on every submission",
    "export PATH=": "run verbatim by tests/test_engine.py::test_readme_offline_preview_verbatim",
    "pulumi config set --secret alertWebhookUrl": "test_alert_commands_set_keys_that_exist",
    "ssh -N -L": "test_the_tunnel_forwards_the_published_admin_ports",
    "venv/bin/python -m tools.smoke": "test_tool_commands_parse",
    "venv/bin/python -m tools.drill failover": "test_tool_commands_parse",
    "venv/bin/python -m tools.plan option-b": "test_the_plan_example_prints_what_the_tool_prints",
    "docker exec STACK-postgres-backup": "test_the_backup_subcommands_exist",
    "venv/bin/python -m tools.drill restore": "test_tool_commands_parse",
    "kubectl taint node NODE": "run by tests/test_kube_target.py::test_a_lost_node_or_zone_costs_at_most_the_planned_"
    "loss_and_the_out_of_service_taint_brings_pods_back",
}


def _commands(block: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_every_command_block_is_covered():
    firsts = [_commands(block)[0] for block, _ in BLOCKS]
    uncovered = [f for f in firsts if not any(f.startswith(prefix) for prefix in COVERED)]
    assert not uncovered, f"README command blocks no test covers: {uncovered}"
    assert all(any(f.startswith(prefix) for f in firsts) for prefix in COVERED), "a COVERED entry matches no block"


def test_the_plan_example_prints_what_the_tool_prints():
    block, printed = next((b, out) for b, out in BLOCKS if b.startswith("venv/bin/python -m tools.plan"))
    argv = shlex.split(_commands(block)[0])[1:]
    done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    actual = done.stdout.splitlines()
    position = 0
    for line in printed.splitlines():
        if line.strip() in ("", "..."):
            continue
        assert line in actual[position:], f"the README prints {line!r}; the tool prints:\n{done.stdout}"
        position = actual.index(line, position) + 1


def _tool_lines() -> list[str]:
    """Every `venv/bin/python -m tools...` command in the README, in blocks and inline."""
    inline = re.findall(r"`(venv/bin/python -m tools\.[^`]*)`", README)
    in_blocks = [c for block, _ in BLOCKS for c in _commands(block) if c.startswith("venv/bin/python -m tools.")]
    # The demo and the stub fleet run until stopped (tests/test_demo.py and test_operations.py run
    # them); --update-snapshots rewrites the repository's snapshots (test_plan.py checks them).
    return sorted(
        c
        for c in set(inline + in_blocks)
        if not re.match(r"venv/bin/python -m tools\.(demo|stubnode)", c) and "--update-snapshots" not in c
    )


@pytest.mark.parametrize("command", _tool_lines())
def test_tool_commands_parse(command, tmp_path, monkeypatch, capsys):
    """Arguments the tool accepts: with no pulumi (nor git) on PATH and no outputs file, a tool that
    read its arguments stops at its input (exit 64 naming it), never at argparse's '(see --help)'."""
    import importlib

    argv = shlex.split(
        command.replace("STACK", "option-b")
        .replace("REG/IMAGE:TAG", "reg/v11:11.1.0")
        .replace("=NEW", "=N3w-rotated-passw0rd")
        .replace("ID ", "aurigraph-20261127T030000Z ")
    )
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.chdir(tmp_path)
    tool = importlib.import_module(argv[2])  # venv/bin/python -m tools.X ...
    try:
        code = tool.main(argv[3:])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert "(see --help)" not in err and "Traceback" not in err, err
    assert code in (0, 64), (code, err[-500:])


def test_alert_commands_set_keys_that_exist():
    block = next(b for b, _ in BLOCKS if b.startswith("pulumi config set --secret alertWebhookUrl"))
    top = {f.alias for f in StackConfig.model_fields.values()}
    alerting = {f.alias for f in AlertingConfig.model_fields.values()}
    for command in (c for line in _commands(block) for c in line.split("&&")):
        words = shlex.split(command)
        key = next(w for w in words[3:] if not w.startswith("--"))
        if "." in key:
            head, leaf = key.split(".", 1)
            assert head == "alerting" and leaf in alerting, key
        else:
            assert key in top, key


def test_the_tunnel_forwards_the_published_admin_ports():
    block = next(b for b, _ in BLOCKS if b.startswith("ssh -N -L"))
    forwarded = {int(p) for p in re.findall(r"-L (\d+):127\.0\.0\.1:\1", block)}
    admin_uis = {"grafana", "prometheus", "jaeger", "haproxyStats"}
    assert forwarded == {p.default for p in PUBLISHED if p.key in admin_uis}


def test_the_backup_subcommands_exist():
    block = next(b for b, _ in BLOCKS if b.startswith("docker exec STACK-postgres-backup"))
    script = BACKUP_SCRIPT
    for sub in re.findall(r"aurigraph-backup (\w+)", block):
        assert re.search(rf"^\s*{sub}\)", script, re.M), f"the backup script has no '{sub}' subcommand"
