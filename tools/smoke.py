"""Smoke test of a running cluster, through its published endpoints only.

    python -m tools.smoke --stack option-b            # reads `pulumi stack output`
    python -m tools.smoke --outputs outputs.json      # that output saved to a file
    python -m tools.smoke --stack option-b --json     # for CI
    python -m tools.smoke --stack k8s-option-b --context prod   # target kubernetes: through the API
    python -m tools.smoke --stack k8s-option-b --context prod --forward   # and the checks above

Checks every logical node of the inventory is up (Prometheus `up`) and, for validators,
that no more than f are down; the HAProxy API backend; the API through HAProxy; one consensus
leader, one term and one state hash per checkpoint across validators; and TPS, P95 and P99
against the spec's targets and alert thresholds for the stack's option.

Exit status: 0 healthy, 2 degraded (working, with warnings: e.g. one validator container down
within the fault budget), 1 failed (e.g. quorum lost, no leader, an alert threshold crossed),
64 could not run (bad arguments, unreadable or undeployed outputs).
On a remote host the admin ports are on loopback: open the SSH tunnel of the README first.
On target kubernetes the checks read the cluster's API instead (tools/kubesmoke.py); with
--forward, the checks above run too, on Prometheus, HAProxy and the API forwarded to this machine
with `kubectl port-forward` (tools/kubectl.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from tools import kubesmoke, ops
from tools.kubectl import Kubectl
from tools.ops import NODES, VALIDATORS, Check, OpsError, Prometheus

API_PATHS = ("/info", "/stats", "/consensus/status")
# The endpoints run_checks reads, forwarded from the cluster with --forward.
FORWARDED = ("prometheus", "api", "haproxyStats")


def check_nodes(prometheus: Prometheus, outputs: dict[str, Any]) -> list[Check]:
    up = prometheus.values(f"up{{{NODES}}}", "node")
    inventory = outputs["nodes"]
    down = sorted(n for n in inventory if up.get(n) != 1.0)
    checks = [
        Check(
            "nodes up",
            "pass" if not down else "warn",
            f"{len(inventory) - len(down)}/{len(inventory)} logical nodes up"
            + (f"; down: {', '.join(down)}" if down else ""),
        )
    ]
    checks.append(ops.quorum_check(outputs, down))
    return checks


def check_haproxy(outputs: dict[str, Any]) -> Check:
    servers = ops.haproxy_servers(outputs["endpoints"]["haproxyStats"])
    up = sorted(s for s, status in servers.items() if status.startswith("UP"))
    if not up:
        return Check("haproxy backends", "fail", f"no API backend server is UP ({len(servers)} configured)")
    down = sorted(set(servers) - set(up))
    return Check(
        "haproxy backends",
        "warn" if down else "pass",
        f"{len(up)}/{len(servers)} API servers UP" + (f"; not UP: {', '.join(down)}" if down else ""),
    )


def check_api(outputs: dict[str, Any]) -> list[Check]:
    checks = []
    base = outputs["endpoints"]["api"].rstrip("/")
    for path in API_PATHS:
        try:
            status, body = ops.http_get(base + path)
            json.loads(body)
            ok = status == 200
            detail = f"{status}" if ok else f"{status}: {body[:120]}"
        except (OpsError, ValueError) as e:
            ok, detail = False, str(e)
        checks.append(Check(f"api {path}", "pass" if ok else "fail", detail))
    return checks


def check_consensus(prometheus: Prometheus) -> list[Check]:
    leaders = sorted(n for n, v in prometheus.values(f"consensus_is_leader{{{VALIDATORS}}}", "node").items() if v == 1)
    if len(leaders) == 1:
        leader = Check("consensus leader", "pass", f"{leaders[0]}")
    else:
        leader = Check(
            "consensus leader", "fail", "no leader" if not leaders else f"{len(leaders)} leaders: " + ", ".join(leaders)
        )
    terms = prometheus.values(f"consensus_term{{{VALIDATORS}}}", "node")
    distinct = sorted(set(terms.values()))
    term = Check(
        "consensus term",
        "pass" if len(distinct) == 1 else "fail",
        f"all {len(terms)} validators on term {int(distinct[0])}"
        if len(distinct) == 1
        else f"validators disagree on the term: {', '.join(f'{n}={int(t)}' for n, t in sorted(terms.items()))}",
    )
    agree, detail = ops.hashes_agree(prometheus)
    return [leader, term, Check("state hashes", "pass" if agree else "fail", detail)]


def _graded(
    name: str, value: float | None, unit: str, target: float, threshold: float, worse: Callable[[float, float], bool]
) -> Check:
    if value is None:
        return Check(name, "fail", "no data")
    shown = f"{value:,.0f}{unit}"
    if worse(value, threshold):
        return Check(name, "fail", f"{shown}: past the alert threshold {threshold:,.0f}{unit}")
    if worse(value, target):
        return Check(name, "warn", f"{shown}: misses the target {target:,.0f}{unit}")
    return Check(name, "pass", f"{shown} (target {target:,.0f}{unit}, alert at {threshold:,.0f}{unit})")


def check_performance(prometheus: Prometheus, outputs: dict[str, Any]) -> list[Check]:
    k = ops.kpis(outputs)
    below = lambda value, limit: value < limit  # noqa: E731
    above = lambda value, limit: value > limit  # noqa: E731
    return [
        _graded("tps", prometheus.scalar(f"sum(transaction_rate{{{VALIDATORS}}})"), "", k.tps_target, k.tps_min, below),
        _graded(
            "p95 latency",
            prometheus.scalar(f'max(finality_latency_ms{{{NODES},quantile="0.95"}})'),
            " ms",
            k.p95_target_ms,
            k.p95_ms,
            above,
        ),
        _graded(
            "p99 latency",
            prometheus.scalar(f'max(finality_latency_ms{{{NODES},quantile="0.99"}})'),
            " ms",
            k.p99_target_ms,
            k.p99_ms,
            above,
        ),
    ]


def run_checks(outputs: dict[str, Any]) -> list[Check]:
    prometheus = Prometheus(outputs["endpoints"]["prometheus"])
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("nodes", lambda: check_nodes(prometheus, outputs)),
        ("haproxy", lambda: [check_haproxy(outputs)]),
        ("api", lambda: check_api(outputs)),
        ("consensus", lambda: check_consensus(prometheus)),
        ("performance", lambda: check_performance(prometheus, outputs)),
    ]
    checks: list[Check] = []
    for name, step in steps:
        try:
            checks += step()
        except OpsError as e:
            checks.append(Check(name, "fail", str(e)))
    return checks


def _forwarded_checks(outputs: dict[str, Any], kubectl: Kubectl) -> list[Check]:
    """run_checks on the in-cluster endpoints forwarded here; a name the API's checks also use
    (the validator quorum) says it is Prometheus's."""
    endpoints = outputs["endpoints"]
    try:
        with ExitStack() as forwards:
            local = {k: forwards.enter_context(kubectl.forwarded(endpoints[k])) for k in FORWARDED}
            checks = run_checks({**outputs, "endpoints": {**endpoints, **local}})
    except OpsError as e:
        return [Check("port-forward", "fail", str(e))]
    return [replace(c, name=f"{c.name} (Prometheus)") if c.name == "validator quorum" else c for c in checks]


def main(argv: list[str] | None = None) -> int:
    parser = ops.ToolParser(prog="python -m tools.smoke", description=__doc__.split("\n\n")[0])
    ops.add_source_arguments(parser)
    parser.add_argument(
        "--forward",
        action="store_true",
        help="target kubernetes: also check the nodes through Prometheus, HAProxy and the API, with kubectl port-forward",
    )
    args = parser.parse_args(argv)
    return ops.run_tool("smoke", lambda: _smoke(args))


def _smoke(args) -> int:
    outputs = ops.load_outputs(args.stack, args.outputs)
    if "kubernetes" in outputs:
        try:
            checks = kubesmoke.run_kube_checks(outputs, kubesmoke.api_reader(args.kubeconfig, args.context))
        except OpsError as e:
            checks = [Check("kubernetes api", "fail", str(e))]
        if args.forward:
            checks += _forwarded_checks(
                outputs, Kubectl(outputs["kubernetes"]["namespace"], args.kubeconfig, args.context)
            )
    else:
        checks = run_checks(outputs)
    verdict, code = ops.overall(checks)
    title = (
        f"smoke: {args.stack or args.outputs} (density {outputs.get('density')}, "
        f"{len(outputs['nodes'])} logical nodes, f = {outputs['faultBudget']})"
    )
    print(
        ops.as_json(title, checks, verdict) if args.json else ops.render(title, checks, verdict),
        end="" if not args.json else "\n",
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
