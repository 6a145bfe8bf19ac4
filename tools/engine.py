"""Drive the real Pulumi CLI on a temporary copy of the project, against stand-in providers: the
engine tests (tests/engine/harness.py) and the benchmark's engine figures use it.

Each `EngineProject` is a copy of the program and its stack files in a temporary directory,
with its own local file backend, passphrase, PULUMI_HOME and stand-in timeline, so tests never
touch the operator's state or each other's. The CLI comes from tests/engine/bin (built by
tests/engine/build) or, failing that, `pulumi` on PATH; the stand-in providers are installed
as plugins in tests/engine/bin/pulumi-home, under the names and versions the SDKs ask for, and
resolved from there with automatic plugin acquisition off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENGINE_BIN = REPO / "tests" / "engine" / "bin"
# The stand-ins, installed as plugins under the SDKs' names and versions (tests/engine/build),
# and the real Kubernetes provider (tests/kube/build).
PLUGINS = ENGINE_BIN / "pulumi-home" / "plugins"
PLUGIN_SOURCES = (PLUGINS, REPO / "tests" / "kube" / "bin" / "pulumi-home" / "plugins")
PASSPHRASE = "engine-tests-passphrase"
PROJECT = "aurigraph-cluster"
PROGRAM_FILES = ("__main__.py", "pulumi_adapter.py", "Pulumi.yaml", "requirements.txt", "README.md")
PROGRAM_DIRS = ("model", "render", "components", "policy")
CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"


def find_engine_cli() -> tuple[str | None, str | None]:
    """(the pulumi CLI to use, None) or (None, what is missing: the CLI or the stand-ins)."""
    missing = None
    if not any(PLUGINS.glob("resource-docker-v*")):
        missing = "the stand-in providers are not installed as plugins (run tests/engine/build)"
    cli = ENGINE_BIN / "pulumi"
    path = str(cli) if cli.exists() else shutil.which("pulumi")
    if path is None and missing is None:
        missing = "no Pulumi CLI (run tests/engine/build, or put pulumi on PATH)"
    return (None, missing) if missing else (path, None)


def python_prefix() -> Path:
    """The virtualenv the tests run in; the copied project runs its program with it."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix)
    return REPO / "venv"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class EngineProject:
    def __init__(self, root: Path, cli: str, own_venv: bool = False, program: Path | None = None):
        self.root = root
        self.dir = root / "project"
        self.dir.mkdir(parents=True)
        if program is not None:  # a test's own program, copied whole, run in the test environment
            shutil.copytree(
                program, self.dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
            (self.dir / "venv").symlink_to(python_prefix())
        elif own_venv:
            self._copy_program()
            # A real ./venv; `pulumi install` (in the project or in policy/) is left to the test.
            _shared_venv(self.dir / "venv")
        else:
            self._copy_program()
            (self.dir / "venv").symlink_to(python_prefix())
            (self.dir / "policy" / "venv").symlink_to(python_prefix())
        (root / "state").mkdir()
        self.timeline_file = root / "timeline.jsonl"
        self.cli = cli
        self.env = {
            **os.environ,
            "PATH": f"{ENGINE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(root / "home"),
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "AURIGRAPH_STANDIN_TIMELINE": str(self.timeline_file),
            "AURIGRAPH_STANDIN_SECONDS": "0",
            "NO_COLOR": "1",
        }
        (root / "home").mkdir()
        # Plugins resolve from PULUMI_HOME as for a real one: the versions the SDKs ask for.
        plugins = root / "pulumi-home" / "plugins"
        plugins.mkdir(parents=True)
        for installed in PLUGIN_SOURCES:
            # A directory per plugin (the CLI lists only real directories), its files linked.
            for entry in installed.glob("*") if installed.is_dir() else ():
                if entry.is_dir():
                    (plugins / entry.name).mkdir()
                    for item in entry.iterdir():
                        (plugins / entry.name / item.name).symlink_to(item)
        self.env.pop("PULUMI_ACCESS_TOKEN", None)
        self.env.pop("DOCKER_HOST", None)

    def _copy_program(self) -> None:
        for name in PROGRAM_FILES:
            shutil.copy2(REPO / name, self.dir / name)
        for stack_file in REPO.glob("Pulumi.*.yaml"):
            shutil.copy2(stack_file, self.dir / stack_file.name)
        for name in PROGRAM_DIRS:
            shutil.copytree(REPO / name, self.dir / name, ignore=shutil.ignore_patterns("__pycache__", "venv", "*.pyc"))

    # ------------------------------------------------------------ running the CLI
    def run(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 900,
        cwd: Path | None = None,
    ) -> Result:
        proc = subprocess.run(
            [self.cli, *args, "--non-interactive", "--color", "never"],
            cwd=cwd or self.dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} exited {proc.returncode}:\n{result.text[-6000:]}")
        return result

    def init(self, stack: str, fills: Mapping[str, Any] | None = None) -> None:
        """`pulumi stack init`, then fill the stack's placeholders with `pulumi config set --path`."""
        self.run("stack", "init", stack)
        for path, value in (fills or {}).items():
            self.set(stack, path, value)

    def set(self, stack: str, path: str, value: Any, *, secret: bool = False) -> None:
        """`pulumi config set [--secret] --path PATH VALUE`; lists are set item by item (`key[0]`)."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.set(stack, f"{path}[{i}]", item, secret=secret)
            return
        args = ["config", "set", "--stack", stack, "--path", path, _scalar(value)]
        if secret:
            args.insert(2, "--secret")
        elif isinstance(value, bool):
            args[2:2] = ["--type", "bool"]
        elif isinstance(value, int):
            args[2:2] = ["--type", "int"]
        elif isinstance(value, float):
            args[2:2] = ["--type", "float"]
        self.run(*args)

    def up(self, stack: str, *extra: str, env: Mapping[str, str] | None = None, check: bool = True) -> Result:
        return self.run("up", "--yes", "--skip-preview", "--stack", stack, *extra, env=env, check=check)

    def preview_json(self, stack: str, *extra: str, check: bool = True) -> dict[str, Any]:
        """`pulumi preview --json`; with check=False a failed preview still gives its steps so far
        and its diagnostics (for example a protected resource's refused delete)."""
        result = self.run("preview", "--json", "--stack", stack, *extra, check=check)
        return json.loads(result.out)

    def outputs(self, stack: str) -> dict[str, Any]:
        return json.loads(self.run("stack", "output", "--json", "--stack", stack).out)

    def export(self, stack: str) -> dict[str, Any]:
        return json.loads(self.run("stack", "export", "--stack", stack).out)

    def timeline(self) -> list[dict[str, Any]]:
        if not self.timeline_file.exists():
            return []
        return [json.loads(line) for line in self.timeline_file.read_text().splitlines() if line]

    def reset_timeline(self) -> None:
        self.timeline_file.unlink(missing_ok=True)


def _shared_venv(path: Path) -> None:
    """A real virtualenv (so `pulumi install` may run `python -m venv` on it again) that sees the
    test environment's packages through a .pth file instead of installing them anew."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next(python_prefix().glob("lib/python3*/site-packages"))
    target = next(path.glob("lib/python3*/site-packages"))
    (target / "shared-test-packages.pth").write_text(f"{site}\n")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def steps_by_urn(preview: Mapping[str, Any], types: Iterable[str] | None = None) -> dict[str, str]:
    """URN -> the engine's step (create, update, replace, delete, same, ...) from `preview --json`."""
    wanted = set(types) if types is not None else None
    out = {}
    for step in preview.get("steps", []):
        urn = step["urn"]
        if wanted is None or urn_token(urn) in wanted:
            out[urn] = step["op"]
    return out


def urn_token(urn: str) -> str:
    """The type token of a URN (urn:pulumi:stack::project::parent-types$type::name)."""
    return urn.split("::")[-2].split("$")[-1]


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def nodes_per_container(outputs: Mapping[str, Any], group: str) -> dict[str, int]:
    """Container -> how many logical nodes of `group` it runs, from the stack's `nodes` output."""
    out: dict[str, int] = {}
    for node in outputs["nodes"].values():
        if node["group"] == group:
            out[node["container"]] = out.get(node["container"], 0) + 1
    return out


def down_intervals(events: list[dict[str, Any]], containers: set[str]) -> dict[str, tuple[float, float]]:
    """Container name -> (start of its delete, end of its create): the time its nodes are down."""
    out = {}
    for name in containers:
        deletes = [e["start"] for e in events if e["op"] == "delete" and urn_name(e["urn"]) == name]
        creates = [e["end"] for e in events if e["op"] == "create" and urn_name(e["urn"]) == name]
        if deletes and creates:
            out[name] = (min(deletes), max(creates))
    return out


def most_nodes_down(intervals: Mapping[str, tuple[float, float]], nodes: Mapping[str, int]) -> int:
    """The most logical nodes down at any one instant."""
    instants = sorted({t for interval in intervals.values() for t in interval})
    return max((sum(nodes[c] for c, (a, b) in intervals.items() if a <= t < b) for t in instants), default=0)


@dataclass
class Rollout:
    down: dict[str, tuple[float, float]]  # container -> when its nodes were down
    most_nodes_down: int
    makespan: float  # from the first container going down to the last coming back


def timed_up(project: EngineProject, stack: str, nodes: Mapping[str, int], seconds: float) -> Rollout:
    """`pulumi up` with each stand-in container create or delete taking `seconds`, and what the
    timeline says of the containers in `nodes` (container -> its logical nodes of the group)."""
    project.reset_timeline()
    project.up(stack, env={"AURIGRAPH_STANDIN_SECONDS": f"{CONTAINER}={seconds},*=0"})
    down = down_intervals(project.timeline(), set(nodes))
    makespan = max((b for _, b in down.values()), default=0.0) - min((a for a, _ in down.values()), default=0.0)
    return Rollout(down, most_nodes_down(down, nodes), makespan)
