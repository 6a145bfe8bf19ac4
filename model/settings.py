"""Stack configuration, validated once before any resource is registered.

`parse_settings` takes the project's config values as the Pulumi CLI hands them over, checks
them against the models in model/config.py, then applies the checks that span keys: the
density presets, group layouts, placeholders left in a stack file, secrets set without
--secret, and the cloud's region rules. Every problem found is reported at once, in one
`ConfigError` line naming each key, what was expected and what was given. Nothing here reads
the Pulumi runtime; pulumi_adapter.py does that.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .clouds import CLOUDS
from .config import (
    DOCKER_TARGETS,
    OBJECT_KEYS,
    SECRET_KEYS,
    AlertingConfig,
    BackupConfig,
    CacheConfig,
    CapacityConfig,
    KubernetesConfig,
    MonitoringConfig,
    SshConfig,
    StackConfig,
    TuningConfig,
    VmConfig,
    keys_of,
    model_at,
)
from .exposure import bind_problem
from .groups import Group, merge_groups, merge_tuning, with_caches
from .kube import schedule_problem
from .names import docker_name_problem
from .problems import ConfigError, Problem
from .types import PLACEHOLDER, show

# The port sshd listens on, on the VMs this program creates.
VM_SSH_PORT = 22


@dataclass(frozen=True)
class Secrets:
    """Configured secrets (set with --secret); None means generate one. Never in a repr."""

    db_password: str | None = field(default=None, repr=False)
    redis_password: str | None = field(default=None, repr=False)
    grafana_admin_password: str | None = field(default=None, repr=False)
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_slack_webhook_url: str | None = field(default=None, repr=False)
    alert_pagerduty_routing_key: str | None = field(default=None, repr=False)
    alert_smtp_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    stack: str
    target: str
    density: str
    groups: tuple[Group, ...]
    tuning: TuningConfig
    pull_image: bool
    protect_data: bool
    admin_bind_address: str
    api_bind_address: str
    ports: Mapping[str, int]
    monitoring: MonitoringConfig
    cache: CacheConfig
    service_images: Mapping[str, str]
    capacity: CapacityConfig
    alerting: AlertingConfig = AlertingConfig()
    backup: BackupConfig = BackupConfig()
    secrets: Secrets = Secrets()
    ssh: SshConfig | None = None
    vm: VmConfig | None = None
    kubernetes: KubernetesConfig | None = None

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    @property
    def features(self) -> frozenset[str]:
        """The features on in this stack: what optional services it runs (ServiceSpec.feature)."""
        return frozenset(name for name, feature in FEATURES.items() if feature.on(self))


@dataclass(frozen=True)
class Feature:
    when: str  # as the README's services table says it
    on: Callable[[Settings], bool]


# Each optional feature the registry names (ServiceSpec.feature), and when a stack has it on
# (backup.bucket implies target aws and backup.enabled: _backup).
FEATURES: dict[str, Feature] = {
    "backup": Feature("unless `backup.enabled` is false", lambda s: s.backup.enabled),
    "backup-bucket": Feature("target aws with `backup.bucket`", lambda s: bool(s.backup.bucket)),
}


# ------------------------------------------------------------------ reading the raw values

# Keys that say where a Docker host publishes its ports; a Kubernetes stack publishes none (its
# admin UIs are ClusterIP Services, its API Service follows kubernetes.apiServiceType).
KUBERNETES_REFUSES = ("adminBindAddress", "apiBindAddress", "ports")


def _decode(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Objects arrive JSON-encoded; null means absent. An empty ssh, vm or kubernetes object means the section is absent, and a
    section the target does not use is refused (and not validated further)."""
    # A top-level `key: null` reaches the program as the text "null" (the CLI hands values over as
    # strings): as if the key were absent, as a null inside an object is (model/config.py).
    values = {k: v for k, v in raw.items() if v is not None and v != "null"}
    for key in OBJECT_KEYS:
        if isinstance(values.get(key), str):
            try:
                values[key] = json.loads(values[key])
            except json.JSONDecodeError:
                pass  # the model reports it: expected an object
            except RecursionError:
                problems.append(
                    Problem(
                        key,
                        "nested too deeply to read (thousands of levels); expected the "
                        "object the config reference describes",
                    )
                )
                del values[key]
    target = values.get("target", "local")
    for key, targets, says in (
        ("ssh", ("ssh",), "target: ssh"),
        ("vm", tuple(CLOUDS), "target aws, azure or gcp"),
        ("kubernetes", ("kubernetes",), "target: kubernetes"),
        *((key, DOCKER_TARGETS, "a Docker target") for key in KUBERNETES_REFUSES if _changed(values, key)),
    ):
        if values.get(key) == {}:
            del values[key]
        elif key in values and target not in targets and isinstance(target, str) and target.isprintable():
            problems.append(Problem(key, f"only used with {says} (this stack's target is {target}); remove it"))
            del values[key]
    return values


def _changed(values: Mapping[str, Any], key: str) -> bool:
    """Whether `key` differs from its default (Pulumi.yaml's defaults reach the program as values)."""
    field = next(f for f in StackConfig.model_fields.values() if f.alias == key)
    return values.get(key) not in (None, {} if field.default_factory else field.default)


def _path_text(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _placeholders(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path] if PLACEHOLDER in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _placeholders(v, path + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _placeholders(v, path + (i,))]
    return []


def _problem(error: Mapping[str, Any]) -> Problem:
    """A pydantic error in this project's words."""
    path = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        model = model_at(path[:-1])
        allowed = keys_of(model) if model else ()
        name = str(path[-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return Problem(_path_text(path), f"unknown key{hint}; known keys here: " + ", ".join(allowed))
    if kind == "missing":
        model = model_at(path[:-1])
        hint = getattr(model, "missing_hint", "required")
        return Problem(_path_text(path), f"missing; {hint}")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        model = model_at(path)
        keys = ", ".join(keys_of(model)) if model else ""
        return Problem(_path_text(path), f"expected an object with keys {keys}, got {show(error.get('input'))}")
    if kind == "aurigraph":
        return Problem(_path_text(path), error["msg"])
    return Problem(_path_text(path), f"{error['msg']}, got {show(error.get('input'))}")


def _validate(values: dict[str, Any], problems: list[Problem], stack: str) -> StackConfig | None:
    # A placeholder is reported on its key (a list item's on the list), and nothing else is.
    keys = sorted({path[:-1] if isinstance(path[-1], int) else path for path in _placeholders(values)})
    for key in keys:
        example = f"'{_path_text(key)}[0]'" if isinstance(_get(values, key), list) else _path_text(key)
        problems.append(
            Problem(
                _path_text(key),
                "still the placeholder from the stack file; set your own value "
                f"(pulumi config set -s {stack} --path {example} ...)",
            )
        )
    try:
        return StackConfig.model_validate(values)
    except ValidationError as error:
        problems += [_problem(e) for e in error.errors() if not any(tuple(e["loc"])[: len(k)] == k for k in keys)]
        return None


def _get(values: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        values = values[part]
    return values


# ------------------------------------------------------------------ checks across keys


def _ports(config: StackConfig, problems: list[Problem]) -> dict[str, int]:
    """Host ports: no two services on one, and none on the port the host's sshd listens on."""
    ports = config.ports.model_dump(by_alias=True)
    sshd = (
        config.ssh.port if config.target == "ssh" and config.ssh else VM_SSH_PORT if config.target in CLOUDS else None
    )
    for key, port in ports.items():
        if port == sshd:
            where = "ssh.port" if config.target == "ssh" else f"SSH on the {config.target} VM"
            problems.append(
                Problem(
                    f"ports.{key}",
                    f"expected a port other than {port}, which {where} takes "
                    f"(publishing there would shadow or expose SSH), got {port}",
                )
            )
    fields = type(config.ports).model_fields
    given = {fields[name].alias for name in config.ports.model_fields_set}
    taken: dict[int, str] = {}
    # Defaults first, so a collision is reported on the key the operator set.
    for key, port in sorted(ports.items(), key=lambda kv: kv[0] in given):
        if port in taken:
            problems.append(
                Problem(
                    f"ports.{key}",
                    f"expected a host port no other service publishes (ports.{taken[port]} is {port} too), got {port}",
                )
            )
        taken.setdefault(port, key)
    return ports


def _exposure(config: StackConfig, problems: list[Problem]) -> None:
    """What the bind addresses publish, judged by meaning on the stack's target: only the cloud
    VMs have a firewall this program configures (the admin UIs then reach only vm.adminCidrs).
    On kubernetes nothing is bound to a host; the API Service's exposure is `_kubernetes`'s."""
    if config.target == "kubernetes":
        return
    firewalled = config.target in CLOUDS
    for key, address, public_ok in (
        ("adminBindAddress", config.admin_bind_address, False),
        ("apiBindAddress", config.api_bind_address, True),
    ):
        why = bind_problem(address, firewalled=firewalled, public_ok=public_ok)
        if why:
            hint = (
                "loopback (127.0.0.1, the default; reach the UIs over an SSH tunnel) or a private address"
                if not public_ok
                else "an address of the host such as 0.0.0.0 or a private address"
            )
            problems.append(Problem(key, f"{show(address)} {why} (target {config.target}); expected {hint}"))


def _target(config: StackConfig, provider_config: Mapping[str, Any], problems: list[Problem]) -> None:
    target = config.target
    if target == "ssh" and config.ssh is None:
        problems.append(Problem("ssh", f"missing; {SshConfig.missing_hint}"))
    cloud = CLOUDS.get(target)
    if cloud is None:
        return
    vm = config.vm
    if vm is None:
        problems.append(Problem("vm", f"missing; {VmConfig.missing_hint}"))
        return
    if not cloud.region_ok(vm.region):
        problems.append(
            Problem(
                "vm.region", f"expected a {cloud.name} region such as {cloud.example_region}, got {show(vm.region)}"
            )
        )
        return
    for provider_key, key in cloud.provider_keys.items():
        given, ours = provider_config.get(provider_key), getattr(vm, key)
        if given is not None and ours is not None and given != ours and PLACEHOLDER not in str(given):
            problems.append(
                Problem(
                    f"vm.{key}",
                    f"expected what {provider_key} says ({show(given)}), got {show(ours)}; set both to the same {key}",
                )
            )
    for key, required in (("zone", cloud.requires_zone), ("project", cloud.requires_project)):
        if required and getattr(vm, key) is None:
            problems.append(Problem(f"vm.{key}", f"missing; target {cloud.name} needs vm.{key}"))
    if vm.zone is not None and not cloud.zone_ok(vm.region, vm.zone):
        problems.append(
            Problem(
                "vm.zone",
                f"expected a zone of {vm.region} such as {cloud.example_zone(vm.region)}, got {show(vm.zone)}",
            )
        )
    if vm.image is not None and not re.fullmatch(cloud.image_pattern, vm.image):
        problems.append(
            Problem("vm.image", f"expected a {cloud.name} image such as {cloud.example_image}, got {show(vm.image)}")
        )
    if vm.data_disk_gb > cloud.max_data_disk_gb:
        problems.append(
            Problem(
                "vm.dataDiskGb",
                f"expected at most {cloud.max_data_disk_gb} GB, the largest data disk "
                f"{cloud.name} offers, got {vm.data_disk_gb}",
            )
        )
    if vm.project is not None and not cloud.requires_project:
        problems.append(Problem("vm.project", "only used with target gcp; remove it"))


def _kubernetes(config: StackConfig, problems: list[Problem]) -> None:
    """The API Service's exposure comes together with its CIDRs; backups keep a cron schedule."""
    if config.target != "kubernetes":
        return
    k = config.kubernetes or KubernetesConfig()
    if k.api_service_type == "LoadBalancer" and k.api_cidrs is None:
        problems.append(
            Problem(
                "kubernetes.apiCidrs",
                "missing; apiServiceType LoadBalancer needs the CIDRs that may call the API "
                "(its loadBalancerSourceRanges), never the whole internet",
            )
        )
    if k.api_service_type != "LoadBalancer" and k.api_cidrs is not None:
        problems.append(
            Problem("kubernetes.apiCidrs", "only used with kubernetes.apiServiceType LoadBalancer; remove it")
        )
    if config.backup.enabled:
        problem = schedule_problem(config.backup.interval, config.backup.interval_seconds)
        problems.extend([problem] if problem else [])


def _alerting(config: StackConfig, problems: list[Problem]) -> None:
    """Each receiver's settings come together: no half-configured receiver, no orphan setting."""
    a = config.alerting
    needs = [
        ("alerting.slackChannel", a.slack_channel, config.alert_slack_webhook_url, "alertSlackWebhookUrl"),
        ("alerting.emailFrom", a.email_from, a.email_to, "alerting.emailTo"),
        ("alerting.smtpSmarthost", a.smtp_smarthost, a.email_to, "alerting.emailTo"),
        ("alerting.smtpUsername", a.smtp_username, config.alert_smtp_password, "alertSmtpPassword"),
        ("alertSmtpPassword", config.alert_smtp_password, a.smtp_username, "alerting.smtpUsername"),
    ]
    for key, value, partner, partner_key in needs:
        if value is not None and partner is None:
            problems.append(Problem(key, f"only used with {partner_key}; set it too, or remove this"))
    if a.email_to is not None:
        for key, value in (("alerting.emailFrom", a.email_from), ("alerting.smtpSmarthost", a.smtp_smarthost)):
            if value is None:
                problems.append(
                    Problem(key, "missing; the email receiver (alerting.emailTo) needs emailFrom and smtpSmarthost")
                )


# Azure Disk Backup keeps at most this many snapshots of one disk.
AZURE_MAX_SNAPSHOTS = 450


def _backup(config: StackConfig, problems: list[Problem]) -> None:
    b = config.backup
    if b.max_age is not None and b.max_age_seconds <= b.interval_seconds:
        problems.append(
            Problem(
                "backup.maxAge",
                f"expected more than backup.interval ({b.interval}), got {b.max_age}: "
                "it would alert between two good backups",
            )
        )
    if b.bucket and config.target != "aws":
        problems.append(
            Problem(
                "backup.bucket", f"only supported with target aws (this stack's target is {config.target}); remove it"
            )
        )
    if b.bucket and not b.enabled:
        problems.append(Problem("backup.bucket", "needs backup.enabled: there are no backups to copy"))
    snapshots = 24 // b.snapshot_every_hours * b.snapshot_retention_days
    if config.target == "azure" and snapshots > AZURE_MAX_SNAPSHOTS:
        problems.append(
            Problem(
                "backup.snapshotRetentionDays",
                f"expected at most {AZURE_MAX_SNAPSHOTS} snapshots "
                f"kept (Azure Disk Backup's limit), got {snapshots} "
                f"(every {b.snapshot_every_hours} h for "
                f"{b.snapshot_retention_days} days)",
            )
        )


def _secrets(config: StackConfig, secret_keys: frozenset[str], problems: list[Problem], stack: str) -> Secrets:
    values = {}
    for name, f in StackConfig.model_fields.items():
        if f.alias not in SECRET_KEYS or getattr(config, name) is None:
            continue
        if f.alias not in secret_keys:
            # Never echo the value: it is a password that was just stored in plaintext.
            problems.append(
                Problem(
                    f.alias,
                    f"must be set as a secret: pulumi config rm -s {stack} {f.alias} && "
                    f"pulumi config set -s {stack} --secret {f.alias} <value> (the plaintext "
                    "value in the stack file should be treated as leaked)",
                )
            )
        values[name] = getattr(config, name)
    return Secrets(**values)


def parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: frozenset[str] = frozenset(),
    provider_config: Mapping[str, Any] | None = None,
) -> Settings:
    """Validate the project's config values (keys without the `aurigraph-cluster:` prefix).

    `secret_keys`: which of them the CLI marked secret (set with --secret). `provider_config`:
    other namespaces' values the program must agree with (`aws:region`, ...).
    """
    problems: list[Problem] = []
    provider_config = provider_config or {}
    for key in sorted(k for k, v in provider_config.items() if isinstance(v, str) and PLACEHOLDER in v):
        problems.append(
            Problem(
                key,
                f"still the placeholder from the stack file; set your own value (pulumi config "
                f"set -s {stack} {key} ...)",
            )
        )
    config = _validate(_decode(raw, problems), problems, stack)
    if config is None:
        raise ConfigError(stack, problems)
    tuning = merge_tuning(config, problems)
    groups = with_caches(config, merge_groups(config, problems), tuning, problems)
    ports = _ports(config, problems)
    _target(config, provider_config, problems)
    _exposure(config, problems)
    _kubernetes(config, problems)
    if docker_name_problem(stack):
        problems.append(Problem("(stack name)", docker_name_problem(stack)))
    secrets = _secrets(config, secret_keys, problems, stack)
    _alerting(config, problems)
    _backup(config, problems)
    if problems:
        raise ConfigError(stack, problems)
    vm = config.vm
    if vm is not None and vm.api_cidrs is None:
        vm = vm.model_copy(update={"api_cidrs": vm.admin_cidrs})
    return Settings(
        stack=stack,
        target=config.target,
        density=config.density,
        groups=tuple(groups),
        tuning=tuning,
        pull_image=config.pull_image,
        protect_data=config.protect_data,
        admin_bind_address=config.admin_bind_address,
        api_bind_address=config.api_bind_address,
        ports=ports,
        monitoring=config.monitoring,
        cache=config.cache,
        service_images=config.service_images.model_dump(by_alias=True),
        capacity=config.capacity,
        alerting=config.alerting,
        backup=config.backup,
        secrets=secrets,
        ssh=config.ssh,
        vm=vm,
        kubernetes=(config.kubernetes or KubernetesConfig()) if config.target == "kubernetes" else None,
    )
