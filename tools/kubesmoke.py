"""The smoke test of a target-kubernetes stack, through the Kubernetes API (`tools.smoke` runs
it when the outputs carry `kubernetes`).

It reads what the cluster says, with the kubeconfig's own credentials (`--kubeconfig`,
`--context`, else KUBECONFIG and its current context): every node container's pod Ready, and
the validators' unavailable logical nodes against f; the services' pods; each group's
PodDisruptionBudget (a drain blocks where it allows no disruption); the validators per zone
against f (one zone's loss); every claim Bound; the backup CronJob's last success against the
alert's age. The nodes' own HTTP endpoints (Prometheus `up`, the API through HAProxy, the
consensus and performance checks of the Docker targets) are inside the cluster: forward them
with `kubectl port-forward` to run those.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from tools.ops import Check, OpsError, quorum_check

GROUP = "aurigraph.io/group"
WORKLOAD = "aurigraph.io/workload"
SERVICE = "aurigraph.io/service"

Get = Callable[[str], dict[str, Any]]  # an API path -> the JSON object the API server returns


def api_reader(kubeconfig: str | None, context: str | None) -> Get:
    """GET by path with the kubeconfig's credentials (tokens, certificates, exec plugins)."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context)
    except (ConfigException, OSError) as e:
        raise OpsError(f"cannot use the kubeconfig: {e}") from None

    def get(path: str) -> dict[str, Any]:
        try:
            response = api.call_api(
                path,
                "GET",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=30,
            )
        except Exception as e:  # the client's ApiException, urllib3's errors: one line, not a traceback
            status = getattr(e, "status", None)
            raise OpsError(f"GET {path}: " + (f"HTTP {status} {e.reason}" if status else str(e))) from None  # type: ignore[attr-defined]
        return json.loads(response.data)

    return get


def _ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def check_pods(outputs: dict[str, Any], pods: list[dict[str, Any]]) -> list[Check]:
    ready = {p["metadata"]["labels"].get(WORKLOAD) for p in pods if _ready(p)}
    inventory = outputs["nodes"]
    containers = {n["container"] for n in inventory.values()}
    down = sorted(n for n, node in inventory.items() if node["container"] not in ready)
    missing = sorted(c for c in containers if c not in ready)
    checks = [
        Check(
            "node pods ready",
            "pass" if not missing else "warn",
            f"{len(containers) - len(missing)}/{len(containers)} node pods Ready"
            + (f"; not Ready: {', '.join(missing)}" if missing else ""),
        )
    ]
    checks.append(quorum_check(outputs, down))
    services = sorted({p["metadata"]["labels"][SERVICE] for p in pods if SERVICE in p["metadata"]["labels"]})
    unready = sorted(
        {p["metadata"]["labels"][SERVICE] for p in pods if SERVICE in p["metadata"]["labels"] and not _ready(p)}
    )
    checks.append(
        Check(
            "service pods ready",
            "fail" if {"postgres", "redis"} & set(unready) else "warn" if unready else "pass",
            f"{len(services) - len(unready)}/{len(services)} services Ready"
            + (f"; not Ready: {', '.join(unready)}" if unready else ""),
        )
    )
    return checks


def check_budgets(budgets: list[dict[str, Any]], groups: list[str]) -> Check:
    by_group = {b["spec"]["selector"]["matchLabels"].get(GROUP): b for b in budgets}
    missing = [g for g in groups if g not in by_group]
    if missing:
        return Check("disruption budgets", "fail", f"no PodDisruptionBudget for {', '.join(missing)}")
    blocked = [g for g in groups if (by_group[g].get("status") or {}).get("disruptionsAllowed", 0) < 1]
    detail = ", ".join(f"{g} {(by_group[g].get('status') or {}).get('disruptionsAllowed', 0)}" for g in groups)
    return Check(
        "disruption budgets",
        "warn" if blocked else "pass",
        f"evictions allowed now: {detail}" + (f"; a drain waits on {', '.join(blocked)}" if blocked else ""),
    )


def check_zones(outputs: dict[str, Any], pods: list[dict[str, Any]], zone_of: dict[str, str]) -> Check:
    sizes: dict[str, int] = {}
    for node in outputs["nodes"].values():
        if node["group"] == "validator":
            sizes[node["container"]] = sizes.get(node["container"], 0) + 1
    per_zone: dict[str, int] = {}
    for pod in pods:
        container = pod["metadata"]["labels"].get(WORKLOAD)
        if pod["metadata"]["labels"].get(GROUP) == "validator" and pod["spec"].get("nodeName") and container in sizes:
            zone = zone_of.get(pod["spec"]["nodeName"], "(no zone)")
            per_zone[zone] = per_zone.get(zone, 0) + sizes[container]
    f = outputs["faultBudget"]
    worst = max(per_zone.values(), default=0)
    spread = ", ".join(f"{z} {n}" for z, n in sorted(per_zone.items()))
    return Check(
        "zone spread",
        "pass" if worst <= f else "warn",
        f"validator nodes per zone: {spread}; losing the worst zone takes {worst} (f = {f})"
        + ("" if worst <= f else ": a zone outage would cost quorum"),
    )


def check_claims(claims: list[dict[str, Any]]) -> Check:
    unbound = sorted(c["metadata"]["name"] for c in claims if (c.get("status") or {}).get("phase") != "Bound")
    return Check(
        "data claims",
        "pass" if not unbound else "fail",
        f"{len(claims) - len(unbound)}/{len(claims)} claims Bound"
        + (f"; not Bound: {', '.join(unbound)}" if unbound else ""),
    )


def check_backups(cronjob: dict[str, Any] | None, max_age: int | None, now: datetime.datetime) -> Check:
    if cronjob is None:
        return Check("backups", "warn", "no backup CronJob (backup.enabled is false)")
    last = (cronjob.get("status") or {}).get("lastSuccessfulTime")
    if not last:
        return Check("backups", "warn", f"no successful backup yet (schedule {cronjob['spec']['schedule']})")
    age = (now - datetime.datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds()
    too_old = max_age is not None and age > max_age
    return Check("backups", "fail" if too_old else "pass", f"last successful backup {age / 3600:.1f} h ago")


def run_kube_checks(outputs: dict[str, Any], get: Get, now: datetime.datetime | None = None) -> list[Check]:
    namespace = outputs["kubernetes"]["namespace"]
    zone_key = outputs["kubernetes"].get("zoneKey", "topology.kubernetes.io/zone")
    base = f"/api/v1/namespaces/{namespace}"
    checks: list[Check] = []
    try:
        pods = get(f"{base}/pods")["items"]
        checks += check_pods(outputs, pods)
        budgets = get(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets")["items"]
        checks.append(check_budgets(budgets, sorted(outputs["kubernetes"]["disruptionBudgets"])))
        zone_of = {
            n["metadata"]["name"]: n["metadata"].get("labels", {}).get(zone_key, "(no zone)")
            for n in get("/api/v1/nodes")["items"]
        }
        checks.append(check_zones(outputs, pods, zone_of))
        checks.append(check_claims(get(f"{base}/persistentvolumeclaims")["items"]))
        cronjobs = get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs")["items"]
        cronjob = next((c for c in cronjobs if c["metadata"]["name"] == "postgres-backup"), None)
        max_age = outputs["kubernetes"].get("backupMaxAgeSeconds")
        checks.append(check_backups(cronjob, max_age, now or datetime.datetime.now(datetime.UTC)))
    except OpsError as e:
        checks.append(Check("kubernetes api", "fail", str(e)))
    return checks
