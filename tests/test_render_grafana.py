"""Grafana: provisioning against its schema, dashboards type-checked against @grafana/schema 10.2.3,
and every panel tied to a metric the rendered prometheus.yml really scrapes."""

from __future__ import annotations

import json
import os
import re
import subprocess

import jsonschema
import pytest
import yaml

from model.topology import build_topology
from render.grafana import (
    JAEGER_UID,
    PROMETHEUS_UID,
    dashboards,
    render_dashboard_provider,
    render_dashboards,
    render_datasources,
)
from render.prometheus import NODE_METRICS, SCRAPE_TARGETS, render_prometheus_config
from tests.helpers import REPO
from tools.mockrun import stack_settings as settings_for

GRAFANA_DIR = REPO / "tests" / "node_tools"
SCHEMAS = REPO / "tests" / "schemas"


def test_datasources_provisioning_matches_its_schema():
    doc = yaml.safe_load(render_datasources("http://prometheus:9090", "http://jaeger:16686"))
    jsonschema.validate(doc, json.loads((SCHEMAS / "grafana-datasources.schema.json").read_text()))
    assert {d["uid"]: d["type"] for d in doc["datasources"]} == {PROMETHEUS_UID: "prometheus", JAEGER_UID: "jaeger"}


def test_dashboard_provider_provisioning_matches_its_schema():
    doc = yaml.safe_load(render_dashboard_provider())
    jsonschema.validate(doc, json.loads((SCHEMAS / "grafana-dashboard-providers.schema.json").read_text()))


def test_the_provisioning_schema_rejects_a_typo():
    doc = yaml.safe_load(render_datasources("http://prometheus:9090", "http://jaeger:16686"))
    doc["datasources"][0]["isDefualt"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads((SCHEMAS / "grafana-datasources.schema.json").read_text()))


def test_the_four_dashboards_of_the_spec_exist():
    titles = {d["title"] for d in dashboards().values()}
    assert titles == {
        "Aurigraph Cluster Overview",
        "Aurigraph Validator Performance",
        "Aurigraph Resource Utilization",
        "Aurigraph LevelDB Health",
    }


def _typescript(name: str, model: dict) -> str:
    """The dashboard as a typed constant; each panel's queries typed as Prometheus queries."""
    ident = re.sub(r"\W", "_", name)
    lines = [f"const {ident}: Dashboard = {json.dumps(model, indent=1)};"]
    for panel in model["panels"]:
        lines.append(f"const {ident}_{panel['id']}: PromQuery[] = {json.dumps(panel['targets'])};")
    return "\n".join(lines)


def test_dashboards_type_check_against_grafana_schema_10_2_3(tmp_path):
    tsc = GRAFANA_DIR / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("tests/node_tools/node_modules is missing; .ci/run installs it with npm ci")
        pytest.skip("run `npm ci --prefix tests/node_tools` to install @grafana/schema and typescript")
    installed = json.loads((GRAFANA_DIR / "node_modules" / "@grafana" / "schema" / "package.json").read_text())
    assert installed["version"] == "10.2.3"
    source = GRAFANA_DIR / "dashboards.check.ts"
    header = (
        "import { Dashboard, DataQuery } from '@grafana/schema';\n"
        "type PromQuery = DataQuery & { expr: string; legendFormat?: string };\n"
    )
    source.write_text(header + "\n".join(_typescript(n, m) for n, m in dashboards().items()) + "\nexport {};\n")
    try:
        result = subprocess.run(
            [
                str(tsc),
                "--noEmit",
                "--strict",
                "--noUnusedLocals",
                "false",
                "--moduleResolution",
                "node",
                "--target",
                "es2020",
                str(source),
            ],
            cwd=GRAFANA_DIR,
            capture_output=True,
            text=True,
        )
    finally:
        source.unlink()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_check_catches_a_wrong_field(tmp_path):
    tsc = GRAFANA_DIR / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        pytest.skip("needs tests/node_tools/node_modules (CI fails in the test above when missing)")
    source = GRAFANA_DIR / "broken.check.ts"
    source.write_text(
        "import { Dashboard } from '@grafana/schema';\n"
        "const d: Dashboard = { schemaVersion: 38, title: 1 };\n"
        "const e: Dashboard = { schemaVersion: 38, titel: 'x' };\nexport { d, e };\n"
    )
    try:
        result = subprocess.run(
            [str(tsc), "--noEmit", "--strict", "--moduleResolution", "node", str(source)],
            cwd=GRAFANA_DIR,
            capture_output=True,
            text=True,
        )
    finally:
        source.unlink()
    assert result.returncode != 0
    assert "Type 'number' is not assignable to type 'string'" in result.stdout
    assert "'titel' does not exist in type 'Dashboard'" in result.stdout


METRIC = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def test_every_panel_queries_metrics_the_scrape_config_collects():
    scraped_jobs = {
        j["job_name"]
        for j in yaml.safe_load(render_prometheus_config(build_topology(settings_for("option-b")), "30s", "30s"))[
            "scrape_configs"
        ]
    }
    exporter_of = {prefix: e.job for e in SCRAPE_TARGETS for prefix in e.metric_prefixes}
    for dashboard in dashboards().values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == PROMETHEUS_UID
            for target in panel["targets"]:
                metrics = METRIC.findall(target["expr"])
                assert metrics, f"{dashboard['title']} / {panel['title']}: no metric in {target['expr']}"
                for metric in metrics:
                    if metric == "up" or metric in NODE_METRICS:
                        assert any(j.startswith("aurigraph-") for j in scraped_jobs)
                        continue
                    job = next((job for prefix, job in exporter_of.items() if metric.startswith(prefix)), None)
                    assert job in scraped_jobs, f"{panel['title']}: {metric} comes from no scraped job"


def test_rendered_dashboards_are_stable_json():
    rendered = render_dashboards()
    assert rendered == render_dashboards()
    assert all(json.loads(text)["uid"].startswith("aurigraph-") for text in rendered.values())
