"""What the operations tools share: the stack's outputs, Prometheus queries, HTTP, checks.

Exit codes, the same for every tool: 0 healthy (or passed), 1 failed, 2 degraded (smoke only),
64 the tool could not run at all (bad arguments or unusable input: an unreadable or
malformed outputs file, a stack that was never deployed, an unwritable --out). An operator's
mistake gets one line on stderr naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from model.kpis import Kpis, kpis_for
from render.haproxy import API_BACKEND
from render.prometheus import NODE_JOB_PREFIX

VALIDATORS = f'job="{NODE_JOB_PREFIX}validator"'
NODES = f'job=~"{NODE_JOB_PREFIX}.*"'


EXIT_USAGE = 64  # like sysexits' EX_USAGE; distinct from every verdict
EXIT_CODES_HELP = (
    "exit codes: 0 healthy or passed, 1 failed, 2 degraded (smoke), "
    f"{EXIT_USAGE} could not run (bad arguments or unusable input)"
)
# The outputs every tool reads; a stack that was never deployed has none of them.
REQUIRED_OUTPUTS = ("nodes", "endpoints", "faultBudget")


class OpsError(RuntimeError):
    """Something the tools could not reach or read; the message says what."""


class UsageError(RuntimeError):
    """The tool cannot run with these arguments or this input (exit 64)."""


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one worth showing and the help does not already say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


class ToolParser(argparse.ArgumentParser):
    """argparse with one-line usage errors and exit code 64, so a usage error never reads as a verdict."""

    def __init__(self, **kwargs):
        kwargs.setdefault("epilog", EXIT_CODES_HELP)
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(**kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, such as 120; got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds above 0; got {text!r}")
    return value


def add_source_arguments(parser) -> None:
    """--stack or --outputs, --json, and for a target-kubernetes stack the kubeconfig and its
    context: how every operations tool is pointed at a cluster."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read the outputs with `pulumi stack output --json --show-secrets`")
    source.add_argument("--outputs", help="a file holding that JSON")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--kubeconfig", help="target kubernetes: the kubeconfig file (default: KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="target kubernetes: the kubeconfig context (default: its current context)")


# A reader that closed the pipe (`| head`): exit as a Unix tool killed by SIGPIPE does.
EXIT_CLOSED_PIPE = 128 + 13


def run_tool(tool: str, body) -> int:
    """Run a tool's body; a UsageError becomes one line on stderr and exit 64, and a reader that
    went away (`| head`) ends it quietly."""
    try:
        return body()
    except UsageError as e:
        print(f"{tool}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # Nothing more can be written, not even at exit's flush: stdout goes to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def load_outputs(stack: str | None, outputs_file: str | None) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` of the stack, or that JSON saved in a file.

    Raises UsageError, naming the problem, when they cannot be read or are not a deployed
    stack's outputs.
    """
    source = f"--outputs {outputs_file}" if outputs_file else f"stack {stack}"
    if outputs_file:
        try:
            with open(outputs_file) as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"cannot read {outputs_file}: {e.strerror or e}") from None
    else:
        if stack is None:
            raise UsageError("name a stack (--stack NAME) or pass --outputs FILE")
        if not shutil.which("pulumi"):
            raise UsageError(
                "the pulumi CLI is not on PATH; pass --outputs FILE with the output of "
                "`pulumi stack output --json --show-secrets -s STACK`"
            )
        done = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack], capture_output=True, text=True
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise UsageError(f"pulumi stack output failed for {stack}: {last}")
        text = done.stdout
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{source} is not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"{source} is not a JSON object of stack outputs")
    missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
    if missing:
        raise UsageError(f"{source} has no {', '.join(missing)} output: was the stack deployed (`pulumi up`)?")
    return outputs


def write_file(path: str, text: str) -> None:
    """Write an output file the operator named; an unwritable path is a UsageError."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def colour(text: str, status: str) -> str:
    """Status words in colour, only for a terminal (and never with NO_COLOR set)."""
    codes = {"pass": "32", "warn": "33", "fail": "31", "HEALTHY": "32", "DEGRADED": "33", "FAILED": "31"}
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR") or status not in codes:
        return text
    return f"\033[{codes[status]}m{text}\033[0m"


def poll(
    condition: Callable[[], Any],
    timeout: float,
    interval: float = 0.25,
    tolerate: tuple[type[BaseException], ...] = (OpsError,),
) -> tuple[Any, float]:
    """(the first truthy value of condition(), seconds it took); (None, seconds) after timeout.

    An exception of a `tolerate` type counts as "not yet" (a service still starting).
    """
    started = time.monotonic()
    while True:
        try:
            value = condition()
        except tolerate:
            value = None
        elapsed = time.monotonic() - started
        if value:
            return value, elapsed
        if elapsed >= timeout:
            return None, elapsed
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        raise OpsError(f"{url}: {getattr(e, 'reason', e)}") from e


class Prometheus:
    def __init__(self, url: str, timeout: float = 5.0):
        self.url, self.timeout = url.rstrip("/"), timeout

    def query(self, promql: str) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", self.timeout)
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise OpsError(
                f"{self.url} answered {status} with something that is not JSON "
                f"({body[:60].strip()!r}...): is it Prometheus?"
            ) from None
        if not isinstance(data, dict) or status != 200 or data.get("status") != "success":
            reason = data.get("error") if isinstance(data, dict) else None
            raise OpsError(f"Prometheus query {promql!r} failed ({status}): {reason or body[:200]}")
        return data["data"]["result"]

    def values(self, promql: str, by: str) -> dict[str, float]:
        """label value -> sample value, for an instant vector."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(promql)}

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


def haproxy_servers(stats_url: str, timeout: float = 5.0) -> dict[str, str]:
    """Server -> status (UP, DOWN, MAINT, ...) in the API backend, from the stats page's CSV."""
    status, body = http_get(stats_url.rstrip("/") + "/;csv", timeout)
    if status != 200:
        raise OpsError(f"HAProxy stats answered {status}")
    rows = csv.DictReader(io.StringIO(body.lstrip("# ")))
    if not {"pxname", "svname", "status"} <= set(rows.fieldnames or ()):
        raise OpsError(f"{stats_url} did not answer with HAProxy's stats CSV ({body[:60].strip()!r}...)")
    return {
        r["svname"]: r["status"]
        for r in rows
        if r["pxname"] == API_BACKEND and r["svname"] not in ("FRONTEND", "BACKEND")
    }


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    detail: str


def overall(checks: list[Check]) -> tuple[str, int]:
    """(HEALTHY | DEGRADED | FAILED, exit code 0 | 2 | 1)."""
    if any(c.status == "fail" for c in checks):
        return "FAILED", 1
    if any(c.status == "warn" for c in checks):
        return "DEGRADED", 2
    return "HEALTHY", 0


def render(title: str, checks: list[Check], verdict: str) -> str:
    """An aligned table; statuses coloured only on a terminal."""
    width = max(len(c.name) for c in checks) + 2
    lines = [title, f"{'CHECK':<{width}}{'STATUS':<8}DETAIL"]
    lines += [f"{c.name:<{width}}{colour(f'{c.status.upper():<8}', c.status)}{c.detail}" for c in checks]
    lines.append(f"result: {colour(verdict, verdict)}")
    return "\n".join(lines) + "\n"


def as_json(title: str, checks: list[Check], verdict: str, **extra: Any) -> str:
    return json.dumps({"title": title, "result": verdict, "checks": [asdict(c) for c in checks], **extra}, indent=1)


def kpis(outputs: dict[str, Any]) -> Kpis:
    return kpis_for(outputs.get("density", "option-b"))


def validator_nodes(outputs: dict[str, Any]) -> list[str]:
    return sorted(n for n, v in outputs["nodes"].items() if v["group"] == "validator")


def quorum_check(outputs: dict[str, Any], down: Iterable[str]) -> Check:
    """The validators' verdict, given the logical nodes that are down: failed above f."""
    validators = validator_nodes(outputs)
    f = outputs["faultBudget"]
    vdown = [n for n in validators if n in set(down)]
    if len(vdown) > f:
        detail = f"quorum lost: {len(vdown)} of {len(validators)} validators down, more than f = {f}"
        return Check("validator quorum", "fail", detail)
    if vdown:
        detail = f"degraded but quorate: {len(vdown)} of {len(validators)} validators down, within f = {f}"
        return Check("validator quorum", "warn", detail)
    return Check("validator quorum", "pass", f"{len(validators)} of {len(validators)} validators up (f = {f})")


def validators_down(prometheus: Prometheus, outputs: dict[str, Any]) -> list[str]:
    up = prometheus.values(f"up{{{VALIDATORS}}}", "node")
    return [n for n in validator_nodes(outputs) if up.get(n) != 1.0]


def hashes_agree(prometheus: Prometheus) -> tuple[bool, str]:
    """One state hash per checkpoint among the validators Prometheus currently sees."""
    per_checkpoint = prometheus.values(
        f"count by (checkpoint) (count by (checkpoint, hash) (consensus_state_hash_info{{{VALIDATORS}}}))", "checkpoint"
    )
    if not per_checkpoint:
        return False, "no validator reports a state hash"
    split = {cp: int(n) for cp, n in per_checkpoint.items() if n > 1}
    if split:
        return False, "validators disagree: " + ", ".join(f"checkpoint {cp} has {n} hashes" for cp, n in split.items())
    return True, f"one hash per checkpoint ({', '.join(sorted(per_checkpoint))})"
