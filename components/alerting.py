"""Alerting: Alertmanager, routing Prometheus's alerts to the configured receivers.

Receiver secrets (Slack URL, PagerDuty key, SMTP password) are uploaded as files of their own,
secret in state; the generic webhook's URL is written into the config, which is then secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.config import AlertingConfig, MonitoringConfig
from model.services import service
from model.settings import Secrets
from render.alertmanager import SECRET_FILES, SECRETS_DIR, Receivers, render_alertmanager_config

from . import containers as c

ALERTMANAGER = service("alertmanager")
CONFIG_PATH = "/etc/alertmanager/alertmanager.yml"


@dataclass
class AlertingArgs:
    placement: c.Placement
    alerting: AlertingConfig
    monitoring: MonitoringConfig  # the scrape and rule timing, which the inhibition waits out
    secrets: Secrets = Secrets()  # the receivers' (alert_*), None when unset; never in a repr


def receivers(alerting: AlertingConfig, secrets: Secrets) -> Receivers:
    a = alerting
    return Receivers(
        webhook_url=secrets.alert_webhook_url,
        slack=secrets.alert_slack_webhook_url is not None,
        slack_channel=a.slack_channel,
        pagerduty=secrets.alert_pagerduty_routing_key is not None,
        email_to=a.email_to,
        email_from=a.email_from,
        smtp_smarthost=a.smtp_smarthost,
        smtp_username=a.smtp_username,
    )


def alertmanager_files(
    alerting: AlertingConfig, monitoring: MonitoringConfig, secrets: Secrets, resource: pulumi.Resource
) -> tuple[pulumi.Input[str], dict[str, pulumi.Output[str]]]:
    """alertmanager.yml (secret when it carries the webhook's URL) and the receivers' secret files
    by path; warns, on `resource`, when no receiver is configured. Both targets run these."""
    a = alerting
    configured = receivers(alerting, secrets)
    if not configured.any:
        pulumi.log.warn(
            "alerting: no receiver configured (alertWebhookUrl, alertSlackWebhookUrl, "
            "alertPagerdutyRoutingKey or alerting.emailTo): alerts reach Alertmanager's UI and nobody "
            'else; see the README, "Alert routing"',
            resource=resource,
        )
    config = render_alertmanager_config(
        configured,
        a.group_wait,
        a.group_interval,
        a.repeat_interval,
        scrape_interval=monitoring.scrape_interval,
        evaluation_interval=monitoring.evaluation_interval,
    )
    secret_files = {
        f"{SECRETS_DIR}/{SECRET_FILES[key]}": pulumi.Output.secret(value)
        for key, value in (
            ("slack", secrets.alert_slack_webhook_url),
            ("pagerduty", secrets.alert_pagerduty_routing_key),
            ("smtp", secrets.alert_smtp_password),
        )
        if value is not None
    }
    return (pulumi.Output.secret(config) if secrets.alert_webhook_url else config), secret_files


class Alerting(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Alerting", name, None, opts)
        config, secret_files = alertmanager_files(args.alerting, args.monitoring, args.secrets, self)
        self.container = c.service_container(
            name,
            ALERTMANAGER,
            args.placement,
            self,
            command=[f"--config.file={CONFIG_PATH}", f"--storage.path={ALERTMANAGER.data_path}"],
            uploads=[c.upload(CONFIG_PATH, config), *(c.upload(path, v) for path, v in secret_files.items())],
            volumes=[c.service_volume(f"{name}-data", ALERTMANAGER, args.placement, self)],
        )
        self.register_outputs({"container": self.container.name})
