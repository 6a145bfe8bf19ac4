"""prometheus.yml and alert rules, checked by the real promtool (check config, check rules, test rules)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from model.topology import build_topology
from render.prometheus import render_alert_rules, render_prometheus_config
from tests.helpers import require_tool
from tools.mockrun import stack_settings as settings_for


def topology(stack: str, overrides=None):
    return build_topology(settings_for(stack, overrides))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("stack", ["option-b", "option-c", "dev"])
def test_promtool_accepts_the_rendered_config_and_rules(tmp_path, stack):
    t = topology(stack)
    rules = tmp_path / "aurigraph.yml"
    rules.write_text(render_alert_rules(settings_for(stack).density, t.fault_budget))
    config = tmp_path / "prometheus.yml"
    config.write_text(render_prometheus_config(t, "30s", "30s", rule_files=(str(rules),)))
    checked = promtool("check", "config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    checked = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("stack, nodes", [("option-b", 51), ("option-c", 65)])
def test_one_scrape_target_per_logical_node_with_its_labels(stack, nodes):
    config = yaml.safe_load(render_prometheus_config(topology(stack), "30s", "30s"))
    node_jobs = [j for j in config["scrape_configs"] if j["job_name"].startswith("aurigraph-")]
    targets = [(sc["targets"], sc["labels"]) for j in node_jobs for sc in j["static_configs"]]
    assert len(targets) == nodes
    assert (["validator-1:8080"], {"group": "validator", "node": "validator-1a", "container": "validator-1"}) in targets
    assert all(j["scrape_interval"] == "30s" and j["metrics_path"] == "/q/metrics" for j in node_jobs)


def test_exporters_are_scraped_by_container_name():
    config = yaml.safe_load(render_prometheus_config(topology("option-b"), "30s", "30s"))
    jobs = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in config["scrape_configs"]}
    assert jobs["postgres"] == "postgres-exporter:9187" and jobs["redis"] == "redis-exporter:9121"
    assert jobs["cadvisor"] == "cadvisor:8080" and jobs["node"] == "node-exporter:9100"


# The spec's "Key Metrics & Targets" alert thresholds, written out here independently of the
# renderer so a wrong threshold in the rules fails these tests.
SPEC = {
    "option-b": dict(tps=750_000, p95=300, p99=400),
    "option-c": dict(tps=900_000, p95=200, p99=300),
}
V = 'job="aurigraph-validator",group="validator",node="validator-1a"'
MEM = 'container_label_io_aurigraph_group="validator",container_label_io_aurigraph_container="validator-1",id="/docker/v1"'
MB = 1024 * 1024


def alert_cases(density: str) -> list[tuple[str, str, list[dict], str, list[dict]]]:
    """(alert, case, input series, eval time, expected alerts) with a firing and a silent case each."""
    s = SPEC[density]
    node = {"node": "validator-1a", "group": "validator", "severity": None}
    mem_labels = {
        "container_label_io_aurigraph_group": "validator",
        "container_label_io_aurigraph_container": "validator-1",
        "id": "/docker/v1",
    }

    def one(series, values):
        return [{"series": series, "values": values}]

    def memory(used_mb):
        return [
            {"series": f"container_memory_working_set_bytes{{{MEM}}}", "values": f"{used_mb * MB}x90"},
            {"series": f"container_spec_memory_limit_bytes{{{MEM}}}", "values": f"{384 * MB}x90"},
        ]

    def down(count):
        return [
            {
                "series": f'up{{job="aurigraph-validator",group="validator",node="validator-{i}a"}}',
                "values": ("0" if i <= count else "1") + "x10",
            }
            for i in range(1, 21)
        ]

    cases: list[tuple[str, list[dict], list[dict], str, dict[str, Any]]] = [
        (
            "AurigraphTpsLow",
            one(f"transaction_rate{{{V}}}", f"{s['tps'] - 50_000}x20"),
            one(f"transaction_rate{{{V}}}", f"{s['tps'] + 50_000}x20"),
            "15m",
            {"severity": "critical"},
        ),
        (
            "AurigraphP95LatencyHigh",
            one(f'finality_latency_ms{{{V},quantile="0.95"}}', f"{s['p95'] + 20}x20"),
            one(f'finality_latency_ms{{{V},quantile="0.95"}}', f"{s['p95'] - 20}x20"),
            "15m",
            {**node, "severity": "warning"},
        ),
        (
            "AurigraphP99LatencyHigh",
            one(f'finality_latency_ms{{{V},quantile="0.99"}}', f"{s['p99'] + 20}x20"),
            one(f'finality_latency_ms{{{V},quantile="0.99"}}', f"{s['p99'] - 20}x20"),
            "15m",
            {**node, "severity": "critical"},
        ),
        (
            "AurigraphCpuHigh",
            one(f"process_cpu_usage{{{V}}}", "0.95x20"),
            one(f"process_cpu_usage{{{V}}}", "0.85x20"),
            "15m",
            {**node, "severity": "warning"},
        ),
        ("AurigraphContainerMemoryHigh", memory(370), memory(300), "10m", {**mem_labels, "severity": "critical"}),
        ("AurigraphContainerMemoryLow", memory(150), memory(300), "70m", {**mem_labels, "severity": "info"}),
        (
            "AurigraphCacheHitRatioLow",
            one(f"leveldb_cache_hit_ratio{{{V}}}", "0.65x30"),
            one(f"leveldb_cache_hit_ratio{{{V}}}", "0.75x30"),
            "20m",
            {**node, "severity": "warning"},
        ),
        # Down two scrapes (31m, 32m) in the hour before 70m is 96.7% uptime (alert); up all hour is silent.
        (
            "AurigraphNodeDown",
            one(f"up{{{V}}}", "1x5 0x10"),
            one(f"up{{{V}}}", "1x15"),
            "10m",
            {"job": "aurigraph-validator", **node, "severity": "warning"},
        ),
        (
            "AurigraphNodeUptimeLow",
            one(f"up{{{V}}}", "1x30 0x1 1x50"),
            one(f"up{{{V}}}", "1x81"),
            "70m",
            {"job": "aurigraph-validator", **node, "severity": "warning"},
        ),
        # Three elections (6m, 22m, 38m) within the hour before 50m alert; two do not.
        (
            "AurigraphLeaderElectionsFrequent",
            one(f"consensus_leader_elections_total{{{V}}}", "0x5 1x15 2x15 3x15"),
            one(f"consensus_leader_elections_total{{{V}}}", "0x5 1x15 2x30"),
            "50m",
            {"severity": "warning"},
        ),
        # option-b: 20 validators, f = 6. Seven down loses quorum; six does not.
        ("AurigraphValidatorQuorumAtRisk", down(7), down(6), "5m", {"severity": "critical"}),
    ]
    if density == "option-c":
        cases.append(
            (
                "AurigraphNodeMemoryHigh",
                one(f'jvm_memory_used_bytes{{{V},area="heap"}}', f"{25 * MB}x20"),
                one(f'jvm_memory_used_bytes{{{V},area="heap"}}', f"{15 * MB}x20"),
                "15m",
                {**node, "severity": "warning"},
            )
        )
    out = []
    for alert, firing, silent, at, labels in cases:
        labels = {k: v for k, v in labels.items() if v is not None}
        out.append((alert, "fires", firing, at, [{"exp_labels": labels}]))
        out.append((alert, "silent", silent, at, []))
    return out


CASES = [(d, *c) for d in SPEC for c in alert_cases(d)]


@pytest.mark.parametrize(
    "density, alert, case, series, at, expected", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_every_alert_fires_above_its_threshold_and_stays_silent_below(
    tmp_path, density, alert, case, series, at, expected
):
    # option-b's fault budget (20 validators) for both densities keeps the quorum case comparable.
    (tmp_path / "rules.yml").write_text(render_alert_rules(density, fault_budget=6))
    # Expected alerts carry the rule's summary annotation only where firing, so compare labels only.
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [
                            {
                                "exp_labels": e["exp_labels"],
                                "exp_annotations": _annotations(tmp_path, alert, e["exp_labels"]),
                            }
                            for e in expected
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _annotations(tmp_path: Path, alert: str, labels: dict) -> dict:
    """The rule's summary with its label templates filled, as Prometheus would."""
    rules = yaml.safe_load((tmp_path / "rules.yml").read_text())["groups"][0]["rules"]
    summary = next(r for r in rules if r["alert"] == alert)["annotations"]["summary"]
    for k, v in labels.items():
        summary = summary.replace(f"{{{{ $labels.{k} }}}}", v)
    return {"summary": summary}


def test_every_rendered_alert_has_a_case():
    for density in SPEC:
        rules = yaml.safe_load(render_alert_rules(density, 6))["groups"][0]["rules"]
        covered = {c[0] for c in alert_cases(density)}
        assert {r["alert"] for r in rules} == covered


def test_custom_density_uses_option_b_thresholds():
    assert render_alert_rules("custom", 1).count("< 750000") == 1
