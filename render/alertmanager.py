"""alertmanager.yml: routing by severity to the configured receivers, and quorum-lost inhibition.

Written for Alertmanager 0.25 (the deployed image and Debian's amtool in tests). Secrets reach
it as files next to the config (`*_file` settings), except the generic webhook's URL, for which
0.25 has no file setting: it is written into the config, which is then a secret as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from model.types import valid_ms

from .prometheus import EXPLAINED_BY_QUORUM, QUORUM_ALERT

SECRETS_DIR = "/etc/alertmanager/secrets"
# File names under SECRETS_DIR, per secret.
SECRET_FILES = {"slack": "slack-webhook-url", "pagerduty": "pagerduty-routing-key", "smtp": "smtp-password"}
CRITICAL, WARNING, NULL = "critical", "warning", "null"


@dataclass(frozen=True)
class Receivers:
    """Which receivers are configured. Secret values stay out of this, but the webhook URL."""

    webhook_url: str | None = None
    slack: bool = False
    slack_channel: str | None = None
    pagerduty: bool = False
    email_to: str | None = None
    email_from: str | None = None
    smtp_smarthost: str | None = None
    smtp_username: str | None = None  # with it, the SMTP password file (settings require both)

    @property
    def any(self) -> bool:
        return bool(self.webhook_url or self.slack or self.pagerduty or self.email_to)


def _configs(r: Receivers, secrets_dir: str, pager: bool) -> dict:
    """One receiver's notification configs: every configured channel (PagerDuty only if `pager`)."""
    out: dict = {}
    if r.webhook_url:
        out["webhook_configs"] = [{"url": r.webhook_url, "send_resolved": True}]
    if r.slack:
        slack = {"api_url_file": f"{secrets_dir}/{SECRET_FILES['slack']}", "send_resolved": True}
        if r.slack_channel:
            slack["channel"] = r.slack_channel
        out["slack_configs"] = [slack]
    if r.pagerduty and pager:
        out["pagerduty_configs"] = [
            {"routing_key_file": f"{secrets_dir}/{SECRET_FILES['pagerduty']}", "send_resolved": True}
        ]
    if r.email_to:
        email = {
            "to": r.email_to,
            "from": r.email_from,
            "smarthost": r.smtp_smarthost,
            "require_tls": True,
            "send_resolved": True,
        }
        if r.smtp_username:
            email["auth_username"] = r.smtp_username
            email["auth_password_file"] = f"{secrets_dir}/{SECRET_FILES['smtp']}"
        out["email_configs"] = [email]
    return out


def explained_wait(group_wait: str, scrape_interval: str, evaluation_interval: str) -> str:
    """How long the per-node validator alerts wait before they are sent: long enough for the
    quorum alert that explains them to fire and inhibit them. Nodes that fail together are seen
    down up to a scrape apart, and each alert turns firing at a rule evaluation, so the quorum
    alert can follow a node's own by a scrape and two evaluations."""
    ms = valid_ms(group_wait) + valid_ms(scrape_interval) + 2 * valid_ms(evaluation_interval)
    return f"{ms}ms"


def render_alertmanager_config(
    r: Receivers,
    group_wait: str,
    group_interval: str,
    repeat_interval: str,
    *,
    scrape_interval: str,
    evaluation_interval: str,
    secrets_dir: str = SECRETS_DIR,
) -> str:
    """Critical alerts reach every receiver, warnings every one but PagerDuty, the rest none.
    With no receiver configured, everything goes to the null receiver (the program warns).

    The validator alerts quorum loss explains wait longer than the rest (`explained_wait`):
    inhibition applies only to what is still unsent when the quorum alert arrives.
    """
    explained = {
        "matchers": ['group="validator"', f'alertname=~"{"|".join(EXPLAINED_BY_QUORUM)}"'],
        "group_wait": explained_wait(group_wait, scrape_interval, evaluation_interval),
    }
    routes = []
    if r.any:
        routes = [
            {"matchers": ['severity="critical"'], "receiver": CRITICAL, "routes": [explained]},
            {"matchers": ['severity="warning"'], "receiver": WARNING, "routes": [explained]},
        ]
    config = {
        "route": {
            "receiver": NULL,
            "group_by": ["alertname", "group"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": routes,
        },
        # While quorum is lost, the per-node validator alerts it explains stay silent.
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{QUORUM_ALERT}"'],
                "target_matchers": explained["matchers"],
            }
        ],
        "receivers": [{"name": NULL}]
        + (
            [
                {"name": CRITICAL, **_configs(r, secrets_dir, pager=True)},
                {"name": WARNING, **_configs(r, secrets_dir, pager=False)},
            ]
            if r.any
            else []
        ),
    }
    return yaml.safe_dump(config, sort_keys=False)
