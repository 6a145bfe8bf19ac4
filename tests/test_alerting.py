"""Alertmanager: the rendered config checked and routed by the real amtool, the program's wiring
under mocks, and a quorum-lost notification reaching a receiver through real Prometheus and real
Alertmanager on loopback."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from model.settings import ConfigError
from render.alertmanager import SECRET_FILES, Receivers, render_alertmanager_config
from render.prometheus import EXPLAINED_BY_QUORUM, QUORUM_ALERT
from tests.helpers import CONTAINER, require_tool
from tools.demo import LoopbackCluster, free_port, wait_until
from tools.mockrun import run_program

# The monitoring defaults: scrape and evaluate every 30 s.
TIMING = {"scrape_interval": "30s", "evaluation_interval": "30s"}
ALL = Receivers(
    webhook_url="https://hooks.example.com/aurigraph",
    slack=True,
    slack_channel="#ops",
    pagerduty=True,
    email_to="ops@example.com",
    email_from="alerts@example.com",
    smtp_smarthost="smtp.example.com:587",
    smtp_username="alerts",
)
RECEIVER_SETS = {
    "none": Receivers(),
    "webhook": Receivers(webhook_url="https://hooks.example.com/x"),
    "slack": Receivers(slack=True),
    "pagerduty": Receivers(pagerduty=True),
    "email": Receivers(email_to="ops@example.com", email_from="a@example.com", smtp_smarthost="smtp.example.com:25"),
    "all": ALL,
}


def _write(tmp_path, receivers: Receivers) -> str:
    for name in SECRET_FILES.values():
        (tmp_path / name).write_text("https://hooks.slack.com/services/T0/B0/x" if "slack" in name else "k" * 32)
    path = tmp_path / "alertmanager.yml"
    path.write_text(render_alertmanager_config(receivers, "30s", "5m", "4h", secrets_dir=str(tmp_path), **TIMING))
    return str(path)


@pytest.mark.parametrize("name", RECEIVER_SETS)
def test_amtool_accepts_the_rendered_config(tmp_path, name):
    amtool = require_tool("amtool")
    done = subprocess.run(
        [amtool, "check-config", _write(tmp_path, RECEIVER_SETS[name])], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_amtool_rejects_a_broken_config(tmp_path):
    amtool = require_tool("amtool")
    path = tmp_path / "broken.yml"
    path.write_text(
        render_alertmanager_config(ALL, "30s", "5m", "4h", secrets_dir=str(tmp_path), **TIMING).replace(
            "receiver: 'null'", "receiver: nobody"
        )
    )
    assert subprocess.run([amtool, "check-config", str(path)], capture_output=True).returncode != 0


ROUTES = [
    # (receivers, labels, the receiver amtool must pick)
    ("all", {"severity": "critical", "alertname": QUORUM_ALERT}, "critical"),
    ("all", {"severity": "critical", "alertname": "AurigraphTpsLow"}, "critical"),
    ("all", {"severity": "warning", "alertname": "AurigraphNodeDown", "group": "validator"}, "warning"),
    ("all", {"severity": "info", "alertname": "AurigraphContainerMemoryLow"}, "null"),
    ("all", {"alertname": "Unlabelled"}, "null"),
    ("pagerduty", {"severity": "warning", "alertname": "AurigraphCpuHigh"}, "warning"),
    ("none", {"severity": "critical", "alertname": QUORUM_ALERT}, "null"),
]


@pytest.mark.parametrize(
    "name, labels, expected", ROUTES, ids=[f"{r[0]}-{r[1].get('severity', 'none')}-{r[2]}" for r in ROUTES]
)
def test_amtool_routes_each_severity_to_its_receiver(tmp_path, name, labels, expected):
    amtool = require_tool("amtool")
    done = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={_write(tmp_path, RECEIVER_SETS[name])}",
            *[f"{k}={v}" for k, v in labels.items()],
        ],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == expected, done.stdout + done.stderr


def test_node_alerts_quorum_explains_wait_for_the_quorum_alert_before_they_are_sent(tmp_path):
    """Two validators failing together are seen down up to a scrape apart; the quorum alert can
    then fire a scrape and two evaluations after a node's own. Inhibition only holds back what is
    unsent, so those node alerts wait that much longer than the configured group_wait."""
    amtool = require_tool("amtool")
    config = _write(tmp_path, ALL)
    tree = subprocess.run(
        [amtool, "config", "routes", "show", f"--config.file={config}"], capture_output=True, text=True
    )
    assert tree.returncode == 0, tree.stderr
    doc = yaml.safe_load(render_alertmanager_config(ALL, "30s", "5m", "4h", **TIMING))
    for severity_route in doc["route"]["routes"]:
        (explained,) = severity_route["routes"]
        assert explained["group_wait"] == "120000ms"  # 30 s + a 30 s scrape + two 30 s evaluations
        assert explained["matchers"] == doc["inhibit_rules"][0]["target_matchers"]
    # amtool picks the same receiver for them (the child route inherits it).
    done = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "severity=warning",
            "alertname=AurigraphNodeDown",
            "group=validator",
        ],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "warning", done.stdout + done.stderr


def test_pagerduty_pages_critical_alerts_only():
    doc = yaml.safe_load(render_alertmanager_config(ALL, "30s", "5m", "4h", **TIMING))
    receivers = {r["name"]: r for r in doc["receivers"]}
    assert "pagerduty_configs" in receivers["critical"] and "pagerduty_configs" not in receivers["warning"]
    assert set(receivers["warning"]) == {"name", "webhook_configs", "slack_configs", "email_configs"}


# ---------------------------------------------------------------- the program's wiring

SECRETS = {
    "alertSlackWebhookUrl": "https://hooks.slack.com/services/T0/B0/secretpart",
    "alertPagerdutyRoutingKey": "0123456789abcdef0123456789abcdef",
    "alertWebhookUrl": "https://hooks.example.com/secret-token",
    "alertSmtpPassword": "smtp-password-1",
}
ALERTING = {
    "alerting.slackChannel": "#aurigraph",
    "alerting.emailTo": "ops@example.com",
    "alerting.emailFrom": "alerts@example.com",
    "alerting.smtpSmarthost": "smtp.example.com:587",
    "alerting.smtpUsername": "alerts",
}


def test_receiver_secrets_reach_alertmanager_as_secret_files_and_nowhere_else():
    run = run_program("option-b", ALERTING, secrets=SECRETS)
    assert run.error is None, run.error
    am = run.named("alertmanager", CONTAINER)
    uploads = {u["file"]: u["content"] for u in am.inputs["uploads"]}
    assert uploads["/etc/alertmanager/secrets/slack-webhook-url"] == SECRETS["alertSlackWebhookUrl"]
    assert "uploads" in am.secret_inputs
    for reg in run.resources:
        if reg.name != "alertmanager":
            assert not any(v in json.dumps(reg.inputs) for v in SECRETS.values()), reg.name
    assert not any(v in json.dumps(run.outputs) for v in SECRETS.values())
    assert not any("no receiver configured" in message for _, message in run.logs)


def test_prometheus_sends_its_alerts_to_alertmanager(stack_run):
    prometheus = stack_run("option-b").named("prometheus", CONTAINER)
    config = yaml.safe_load(
        next(u["content"] for u in prometheus.inputs["uploads"] if u["file"].endswith("prometheus.yml"))
    )
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]


def test_with_no_receiver_the_program_warns_and_routes_to_null(stack_run):
    run = stack_run("option-b")
    assert any(sev == "WARNING" and "no receiver configured" in message for sev, message in run.logs)
    config = next(u["content"] for u in run.named("alertmanager", CONTAINER).inputs["uploads"])
    assert yaml.safe_load(config)["route"] == {**yaml.safe_load(config)["route"], "receiver": "null", "routes": []}


@pytest.mark.parametrize(
    "overrides, secrets, key",
    [
        ({"alerting.slackChannel": "#ops"}, {}, "alerting.slackChannel"),
        ({"alerting.emailTo": "ops@example.com"}, {}, "alerting.emailFrom"),
        ({"alerting.emailTo": "not an address"}, {}, "alerting.emailTo"),
        ({}, {"alertWebhookUrl": "ftp://example.com/x"}, "alertWebhookUrl"),
        ({}, {"alertPagerdutyRoutingKey": "short"}, "alertPagerdutyRoutingKey"),
        ({}, {"alertSmtpPassword": "smtp-password-1"}, "alertSmtpPassword"),
        ({"alerting.repeatInterval": "0s"}, {}, "alerting.repeatInterval"),
    ],
)
def test_a_half_configured_receiver_is_refused(overrides, secrets, key):
    run = run_program("option-b", overrides, secrets=secrets)
    assert isinstance(run.error, ConfigError) and f"'{key}'" in str(run.error), run.error
    assert not any(v in str(run.error) for v in secrets.values()) and run.resources == []


# ---------------------------------------------------------------- end to end on loopback


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _alerts(status: str) -> list[tuple[str, str]]:
    return [
        (a["labels"]["alertname"], a["labels"].get("node", ""))
        for n in Receiver.received
        for a in n["alerts"]
        if a["status"] == status
    ]


# Quorum lost is `for: 1m`: Prometheus holds the alert that long once it sees the nodes down,
# then one rule evaluation (1 s here) and Alertmanager's group_wait (1 s) pass. Stated bound:
QUORUM_NOTICE_BOUND_S = 90


@pytest.mark.live
def test_quorum_lost_reaches_a_receiver_with_the_node_alerts_inhibited_and_then_resolves(tmp_path):
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{server.server_port}/alerts"
    try:
        with LoopbackCluster(
            tmp_path, "1s", prometheus_bin, None, alertmanager_bin=alertmanager_bin, alert_webhook=webhook
        ) as cluster:
            cluster.wait_healthy()
            control = cluster.control
            stopped = ["validator-3", "validator-4"]  # 2 of 4 validators, f = 1
            started = time.monotonic()
            for container in stopped:
                urllib.request.urlopen(
                    urllib.request.Request(f"{control}/containers/{container}/stop", method="POST", data=b""), timeout=5
                )
            wait_until(
                lambda: (QUORUM_ALERT, "") in _alerts("firing"),
                QUORUM_NOTICE_BOUND_S,
                what="the quorum-lost notification",
            )
            took = time.monotonic() - started
            # The node-down alerts fired in Prometheus too, and Alertmanager kept them silent.
            down = cluster.prometheus.values(
                f'ALERTS{{alertname="{EXPLAINED_BY_QUORUM[0]}",alertstate="firing"}}', "node"
            )
            assert set(down) == {"validator-3a", "validator-4a"}
            assert not [a for a in _alerts("firing") if a[0] in EXPLAINED_BY_QUORUM]

            for container in stopped:
                urllib.request.urlopen(
                    urllib.request.Request(f"{control}/containers/{container}/start", method="POST", data=b""),
                    timeout=5,
                )
            wait_until(lambda: (QUORUM_ALERT, "") in _alerts("resolved"), 60, what="the resolved notification")
    finally:
        server.shutdown()
    assert took <= QUORUM_NOTICE_BOUND_S
    print(f"quorum-lost notification after {took:.1f} s")
