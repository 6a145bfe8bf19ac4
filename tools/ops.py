"""What the operations tools share: the stack's outputs, Prometheus queries, HTTP, checks."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Optional

from components.render.prometheus import NODE_JOB_PREFIX, Kpis, kpis_for
from components.render.haproxy import API_BACKEND

VALIDATORS = f'job="{NODE_JOB_PREFIX}validator"'
NODES = f'job=~"{NODE_JOB_PREFIX}.*"'


class OpsError(RuntimeError):
    """Something the tools could not reach or read; the message says what."""


def add_source_arguments(parser) -> None:
    """--stack or --outputs, and --json: how every operations tool is pointed at a cluster."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read the outputs with `pulumi stack output --json --show-secrets`")
    source.add_argument("--outputs", help="a file holding that JSON")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def outputs_of(args, tool: str) -> Optional[dict[str, Any]]:
    """The outputs the arguments point at; None (after saying why on stderr) when unreadable."""
    try:
        return load_outputs(args.stack, args.outputs)
    except (OpsError, OSError, ValueError) as e:
        print(f"{tool}: {e}", file=sys.stderr)
        return None


def load_outputs(stack: Optional[str], outputs_file: Optional[str]) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` of the stack, or that JSON saved in a file."""
    if outputs_file:
        with open(outputs_file) as f:
            return json.load(f)
    if not shutil.which("pulumi"):
        raise OpsError("the pulumi CLI is not on PATH; pass --outputs FILE with the output of "
                       "`pulumi stack output --json --show-secrets -s STACK`")
    done = subprocess.run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise OpsError(f"pulumi stack output failed for {stack}: {done.stderr.strip()}")
    return json.loads(done.stdout)


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
        data = json.loads(body) if body else {}
        if status != 200 or data.get("status") != "success":
            raise OpsError(f"Prometheus query {promql!r} failed ({status}): {data.get('error', body[:200])}")
        return data["data"]["result"]

    def values(self, promql: str, by: str) -> dict[str, float]:
        """label value -> sample value, for an instant vector."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(promql)}

    def scalar(self, promql: str) -> Optional[float]:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


def haproxy_servers(stats_url: str, timeout: float = 5.0) -> dict[str, str]:
    """Server -> status (UP, DOWN, MAINT, ...) in the API backend, from the stats page's CSV."""
    status, body = http_get(stats_url.rstrip("/") + "/;csv", timeout)
    if status != 200:
        raise OpsError(f"HAProxy stats answered {status}")
    rows = csv.DictReader(io.StringIO(body.lstrip("# ")))
    return {r["svname"]: r["status"] for r in rows
            if r["pxname"] == API_BACKEND and r["svname"] not in ("FRONTEND", "BACKEND")}


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
    width = max(len(c.name) for c in checks) + 2
    lines = [title, f"{'CHECK':<{width}}{'STATUS':<8}DETAIL"]
    lines += [f"{c.name:<{width}}{c.status.upper():<8}{c.detail}" for c in checks]
    lines.append(f"result: {verdict}")
    return "\n".join(lines) + "\n"


def as_json(title: str, checks: list[Check], verdict: str, **extra: Any) -> str:
    return json.dumps({"title": title, "result": verdict, "checks": [asdict(c) for c in checks], **extra}, indent=1)


def kpis(outputs: dict[str, Any]) -> Kpis:
    return kpis_for(outputs.get("density", "option-b"))


def validator_nodes(outputs: dict[str, Any]) -> list[str]:
    return sorted(n for n, v in outputs["nodes"].items() if v["group"] == "validator")


def validators_down(prometheus: Prometheus, outputs: dict[str, Any]) -> list[str]:
    up = prometheus.values(f"up{{{VALIDATORS}}}", "node")
    return [n for n in validator_nodes(outputs) if up.get(n) != 1.0]


def hashes_agree(prometheus: Prometheus) -> tuple[bool, str]:
    """One state hash per checkpoint among the validators Prometheus currently sees."""
    per_checkpoint = prometheus.values(
        f"count by (checkpoint) (count by (checkpoint, hash) (consensus_state_hash_info{{{VALIDATORS}}}))",
        "checkpoint")
    if not per_checkpoint:
        return False, "no validator reports a state hash"
    split = {cp: int(n) for cp, n in per_checkpoint.items() if n > 1}
    if split:
        return False, "validators disagree: " + ", ".join(f"checkpoint {cp} has {n} hashes" for cp, n in split.items())
    return True, f"one hash per checkpoint ({', '.join(sorted(per_checkpoint))})"
