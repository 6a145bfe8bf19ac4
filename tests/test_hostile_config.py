"""Hostile and careless config, by class of defect: each case refused with one line naming the key,
before anything is registered. The classes: strings matched whole and free of control characters,
numbers parsed defensively with bounds, Prometheus's duration grammar, network exposure judged by
meaning, cloud consistency, SSH trust, and the error line itself."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from model.settings import ConfigError
from tests.helpers import ALL_IPV4_BUT_0_8
from tools.fills import FILLS, TEST_SSH_KEY
from tools.mockrun import NULL, run_program, stack_settings

AWS = ("aws-option-b", FILLS["aws"])
AZURE = ("azure-option-b", FILLS["azure"])
GCP = ("gcp-option-b", FILLS["gcp"])
SSH = ("ssh-option-b", FILLS["ssh"])
LOCAL: tuple[str, dict[str, Any]] = ("option-b", {})
K8S: tuple[str, dict[str, Any]] = ("k8s-option-b", {})


def _key(kind: bytes, *fields: bytes) -> str:
    blob = b"".join(len(f).to_bytes(4, "big") + f for f in (kind, *fields))
    return f"{kind.decode()} {base64.b64encode(blob).decode()} someone@host"


STRINGS = [
    ("duration with a newline", LOCAL, {"monitoring.scrapeInterval": "30s\n"}, "monitoring.scrapeInterval"),
    ("image with a newline", LOCAL, {"image": "aurigraph/v11-native:11.0.0\n"}, "image"),
    (
        "group image with a trailing space",
        LOCAL,
        {"groups.validator.image": "aurigraph/v11-native:11.0.1 "},
        "groups.validator.image",
    ),
    ("service image with a tab", LOCAL, {"serviceImages.redis": "redis:7.0.15\t"}, "serviceImages.redis"),
    ("image too long", LOCAL, {"image": "a/" * 300 + "b:1"}, "image"),
    ("bind address with a newline", LOCAL, {"adminBindAddress": "127.0.0.1\n"}, "adminBindAddress"),
    ("target with a newline", LOCAL, {"target": "local\n"}, "target"),
    ("density with a trailing space", LOCAL, {"density": "option-b "}, "density"),
    ("cache policy with a newline", LOCAL, {"cache.maxMemoryPolicy": "allkeys-lru\n"}, "cache.maxMemoryPolicy"),
    ("ssh host with a newline", SSH, {"ssh.host": "dlt.aurigraph.io\n"}, "ssh.host"),
    ("ssh user with a newline", SSH, {"ssh.user": "subbu\nroot"}, "ssh.user"),
    ("vm region with a newline", AWS, {"vm.region": "eu-west-1\n"}, "vm.region"),
    ("vm zone with a newline", AWS, {"vm.zone": "eu-west-1a\n"}, "vm.zone"),
    ("vm user with a newline", AWS, {"vm.sshUser": "aurigraph\n"}, "vm.sshUser"),
    ("vm size with a newline", AWS, {"vm.size": "m6i.12xlarge\n"}, "vm.size"),
    ("gcp project with a newline", GCP, {"vm.project": "aurigraph-test\n"}, "vm.project"),
    (
        "public key with a newline inside",
        AWS,
        {"vm.sshPublicKey": TEST_SSH_KEY.replace(" ", "\n", 1)},
        "vm.sshPublicKey",
    ),
    (
        "public key comment with a control character",
        AWS,
        {"vm.sshPublicKey": TEST_SSH_KEY + "\x1b[2J"},
        "vm.sshPublicKey",
    ),
    ("cidr with a newline", AWS, {"vm.adminCidrs": ["198.51.100.0/24\n"]}, "vm.adminCidrs"),
]
SECRETS = [
    ("password with a newline", {"redisPassword": "abcdefghijkl\nmnop"}, "redisPassword"),
    ("password with a NUL", {"dbPassword": "abcdefghijkl\x00mnop"}, "dbPassword"),
    ("password with a tab", {"grafanaAdminPassword": "abcdefghij\tklmnop"}, "grafanaAdminPassword"),
    ("password too long", {"dbPassword": "p" * 129}, "dbPassword"),
    ("password too short", {"redisPassword": "short"}, "redisPassword"),
]
NUMBERS = [
    ("5,000-digit count", LOCAL, {"groups.validator.containers": "9" * 5000}, "groups.validator.containers"),
    ("huge integer", LOCAL, {"tuning.batchSize": 10**30}, "tuning.batchSize"),
    ("exponent for a count", LOCAL, {"tuning.threadPoolSize": "1e3"}, "tuning.threadPoolSize"),
    ("port above 65535", LOCAL, {"ports.api": 70000}, "ports.api"),
    ("port zero", LOCAL, {"ports.grafana": 0}, "ports.grafana"),
    ("negative port", LOCAL, {"ports.prometheus": -1}, "ports.prometheus"),
    ("cache beyond any host", LOCAL, {"cache.maxMemoryMb": 10**12}, "cache.maxMemoryMb"),
    ("a million nodes", LOCAL, {"groups.slim.nodes": 10**6}, "groups.slim.nodes"),
    ("NaN overcommit", LOCAL, {"capacity.cpuOvercommit": "nan"}, "capacity.cpuOvercommit"),
    ("infinite overcommit", LOCAL, {"capacity.memoryOvercommit": "inf"}, "capacity.memoryOvercommit"),
    ("float beyond double", LOCAL, {"groups.validator.cpus": "1e309"}, "groups.validator.cpus"),
    ("long decimal text", LOCAL, {"groups.validator.cpus": "1." + "0" * 5000}, "groups.validator.cpus"),
    ("ssh port zero", SSH, {"ssh.port": 0}, "ssh.port"),
    ("ssh cpus NaN", SSH, {"ssh.cpus": "NaN"}, "ssh.cpus"),
    ("aws disk above gp3's 16 TiB", AWS, {"vm.dataDiskGb": 20000}, "vm.dataDiskGb"),
    ("azure disk above 32 TiB", AZURE, {"vm.dataDiskGb": 40000}, "vm.dataDiskGb"),
    ("gcp disk above 64 TB", GCP, {"vm.dataDiskGb": 70000}, "vm.dataDiskGb"),
]
DURATIONS = [
    ("zero, which Prometheus rewrites", {"monitoring.scrapeInterval": "0s"}, "monitoring.scrapeInterval"),
    ("bare zero", {"monitoring.evaluationInterval": "0"}, "monitoring.evaluationInterval"),
    ("units out of order", {"monitoring.scrapeInterval": "30s1m"}, "monitoring.scrapeInterval"),
    ("a unit twice", {"monitoring.retention": "1d1d"}, "monitoring.retention"),
    ("fraction", {"monitoring.scrapeInterval": "1.5m"}, "monitoring.scrapeInterval"),
    ("upper-case unit", {"monitoring.scrapeInterval": "30S"}, "monitoring.scrapeInterval"),
    ("no unit", {"monitoring.scrapeInterval": "30"}, "monitoring.scrapeInterval"),
    ("negative", {"monitoring.scrapeInterval": "-30s"}, "monitoring.scrapeInterval"),
    ("empty", {"monitoring.retention": ""}, "monitoring.retention"),
    ("beyond Go's duration", {"monitoring.retention": "999999999y"}, "monitoring.retention"),
    ("scrape interval above 5m", {"monitoring.scrapeInterval": "6m"}, "monitoring.scrapeInterval"),
    ("retention below an hour", {"monitoring.retention": "30m"}, "monitoring.retention"),
    ("scrape interval below a second", {"monitoring.scrapeInterval": "500ms"}, "monitoring.scrapeInterval"),
    ("evaluation interval above 5m", {"monitoring.evaluationInterval": "10m"}, "monitoring.evaluationInterval"),
]
NETWORK = [
    ("two halves cover IPv4", AWS, {"vm.adminCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "vm.adminCidrs"),
    (
        "four quarters cover IPv4",
        GCP,
        {"vm.adminCidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]},
        "vm.adminCidrs",
    ),
    ("two halves cover IPv6", AZURE, {"vm.adminCidrs": ["::/1", "8000::/1"]}, "vm.adminCidrs"),
    (
        "all of IPv4 but 0/8",
        AWS,
        {"vm.adminCidrs": list(ALL_IPV4_BUT_0_8)},
        "vm.adminCidrs",
    ),
    ("half of IPv4", GCP, {"vm.adminCidrs": ["0.0.0.0/1"]}, "vm.adminCidrs"),
    ("IPv6 global unicast", AZURE, {"vm.adminCidrs": ["2000::/3"]}, "vm.adminCidrs"),
    ("all of IPv4, mapped into IPv6", AWS, {"vm.adminCidrs": ["::ffff:0:0/96"]}, "vm.adminCidrs"),
    ("all of IPv4 through 6to4", GCP, {"vm.adminCidrs": ["2002::/16"]}, "vm.adminCidrs"),
    ("admin UIs to the world on ssh", SSH, {"adminBindAddress": "0.0.0.0"}, "adminBindAddress"),
    ("admin UIs on every IPv6 address", LOCAL, {"adminBindAddress": "::"}, "adminBindAddress"),
    ("admin UIs on mapped 0.0.0.0", LOCAL, {"adminBindAddress": "::ffff:0.0.0.0"}, "adminBindAddress"),
    ("admin UIs on a public address of the ssh server", SSH, {"adminBindAddress": "93.184.216.34"}, "adminBindAddress"),
    ("admin UIs on the metadata address", AWS, {"adminBindAddress": "169.254.169.254"}, "adminBindAddress"),
    ("API on a multicast address", LOCAL, {"apiBindAddress": "224.0.0.1"}, "apiBindAddress"),
    ("API with a zone id", LOCAL, {"apiBindAddress": "fe80::1%eth0"}, "apiBindAddress"),
    ("host bits set", AWS, {"vm.adminCidrs": ["198.51.100.7/24"]}, "vm.adminCidrs"),
    ("host bits set in the API list", AWS, {"vm.apiCidrs": ["10.0.0.1/8"]}, "vm.apiCidrs"),
    ("prefix too long", AWS, {"vm.adminCidrs": ["10.0.0.0/33"]}, "vm.adminCidrs"),
    ("not a CIDR", GCP, {"vm.adminCidrs": ["office"]}, "vm.adminCidrs"),
    ("empty list", AWS, {"vm.adminCidrs": []}, "vm.adminCidrs"),
    ("CIDRs as a string", AWS, {"vm.adminCidrs": "198.51.100.0/24"}, "vm.adminCidrs"),
    ("API on the VM's SSH port", AWS, {"ports.api": 22}, "ports.api"),
    ("an admin UI on the VM's SSH port", GCP, {"ports.grafana": 22}, "ports.grafana"),
    ("stats page on the VM's SSH port", AZURE, {"ports.haproxyStats": 22}, "ports.haproxyStats"),
    ("API on the server's SSH port", SSH, {"ssh.port": 2222, "ports.api": 2222}, "ports.api"),
    ("two services on one port", LOCAL, {"ports.jaeger": 9090}, "ports.jaeger"),
]
CLOUDS = [
    ("aws zone of another region", AWS, {"vm.zone": "us-east-1a"}, "vm.zone"),
    ("aws provider region disagrees", AWS, {"aws:region": "us-east-1"}, "vm.region"),
    ("azure provider location disagrees", AZURE, {"azure-native:location": "northeurope"}, "vm.region"),
    ("azure zone that does not exist", AZURE, {"vm.zone": "4"}, "vm.zone"),
    ("gcp zone of another region", GCP, {"vm.zone": "europe-west2-b"}, "vm.zone"),
    ("gcp provider region disagrees", GCP, {"gcp:region": "us-central1"}, "vm.region"),
    ("gcp provider project disagrees", GCP, {"gcp:project": "someone-else"}, "vm.project"),
    ("gcp project on aws", AWS, {"vm.project": "aurigraph-test"}, "vm.project"),
    ("gcp region on aws", AWS, {"vm.region": "europe-west1", "aws:region": "europe-west1"}, "vm.region"),
]
SSH_TRUST = [
    ("ProxyCommand runs a local command", SSH, {"ssh.sshOpts": ["-o", "ProxyCommand=nc %h %p"]}, "ssh.sshOpts"),
    ("LocalCommand in one argument", SSH, {"ssh.sshOpts": ["-oLocalCommand=id"]}, "ssh.sshOpts"),
    ("host key checking off", SSH, {"ssh.sshOpts": ["-o", "StrictHostKeyChecking=no"]}, "ssh.sshOpts"),
    ("trust on first use", SSH, {"ssh.sshOpts": ["-o", "StrictHostKeyChecking=accept-new"]}, "ssh.sshOpts"),
    ("another config file", SSH, {"ssh.sshOpts": ["-F", "/tmp/evil"]}, "ssh.sshOpts"),
    ("known hosts command", SSH, {"ssh.sshOpts": ["-o", "KnownHostsCommand=/bin/echo"]}, "ssh.sshOpts"),
    ("option with no value", SSH, {"ssh.sshOpts": ["-o"]}, "ssh.sshOpts"),
    ("host key that is not a key", SSH, {"ssh.hostKey": "ssh-ed25519 notbase64"}, "ssh.hostKey"),
    ("public key without key material", AWS, {"vm.sshPublicKey": _key(b"ssh-ed25519")}, "vm.sshPublicKey"),
    (
        "ed25519 key of the wrong length",
        AWS,
        {"vm.sshPublicKey": _key(b"ssh-ed25519", b"\x01" * 31)},
        "vm.sshPublicKey",
    ),
    (
        "1024-bit RSA key",
        AZURE,
        {"vm.sshPublicKey": _key(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 128)},
        "vm.sshPublicKey",
    ),
    (
        "ECDSA key naming another curve",
        GCP,
        {"vm.sshPublicKey": _key(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04" + b"\x01" * 64)},
        "vm.sshPublicKey",
    ),
    (
        "key with trailing bytes",
        AWS,
        {"vm.sshPublicKey": _key(b"ssh-ed25519", b"\x01" * 32, b"extra")},
        "vm.sshPublicKey",
    ),
]


def _refused(stack: str, overrides: dict, key: str, secrets: dict | None = None) -> str:
    run = run_program(stack, overrides, secrets=secrets)
    assert isinstance(run.error, ConfigError), f"expected a ConfigError, got {run.error!r}"
    message = str(run.error)
    assert "\n" not in message and "\r" not in message, "the error must be one line"
    assert f"'{key}'" in message and f"stack '{stack}'" in message, message
    assert "Traceback" not in message
    assert run.resources == [], "nothing may be registered when the config is bad"
    return message


def _cases(table):
    return pytest.mark.parametrize(
        "target, overrides, key", [(c[1], c[2], c[3]) for c in table], ids=[c[0] for c in table]
    )


@_cases(STRINGS)
def test_strings_are_matched_whole_and_free_of_control_characters(target, overrides, key):
    stack, fills = target
    _refused(stack, {**fills, **overrides}, key)


@pytest.mark.parametrize("secrets, key", [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS])
def test_secrets_are_refused_without_echoing_them(secrets, key):
    message = _refused("option-b", {}, key, secrets=secrets)
    assert "value not shown" in message
    assert not any(part in message for part in ("abcdefghijkl", "ppppppppp", "short"))


@_cases(NUMBERS)
def test_numbers_are_parsed_defensively_and_bounded(target, overrides, key):
    stack, fills = target
    message = _refused(stack, {**fills, **overrides}, key)
    assert len(message) < 2000, "a huge value is shortened, not echoed whole"


@pytest.mark.parametrize("overrides, key", [c[1:] for c in DURATIONS], ids=[c[0] for c in DURATIONS])
def test_durations_follow_prometheus_and_its_range(overrides, key):
    _refused("option-b", overrides, key)


@_cases(NETWORK)
def test_network_exposure_is_judged_by_meaning(target, overrides, key):
    stack, fills = target
    _refused(stack, {**fills, **overrides}, key)


@_cases(CLOUDS)
def test_cloud_settings_agree_with_each_other(target, overrides, key):
    stack, fills = target
    message = _refused(stack, {**fills, **overrides}, key)
    assert "None" not in message, "no follow-on error about a value that was refused"


@_cases(SSH_TRUST)
def test_ssh_trust_cannot_be_loosened(target, overrides, key):
    stack, fills = target
    _refused(stack, {**fills, **overrides}, key)


@pytest.mark.parametrize(
    "config, key",
    [
        ({"groups": {"validator": {"contain\ners": 4}}}, "groups.validator.contain\\ners"),
        ({"tuning": {"batch\rSize": 1}}, "tuning.batch\\rSize"),
        ({"monitoring": {"\u2028retention": "15d"}}, "monitoring.\\u2028retention"),
    ],
    ids=["newline", "carriage return", "line separator"],
)
def test_a_key_with_a_line_break_still_gives_one_line(config, key):
    run = run_program("option-b", config)
    assert isinstance(run.error, ConfigError)
    message = str(run.error)
    assert len(message.splitlines()) == 1 and key in message, message


def test_every_class_has_its_cases():
    tables = [STRINGS, SECRETS, NUMBERS, DURATIONS, NETWORK, CLOUDS, SSH_TRUST]
    assert sum(len(t) for t in tables) >= 60


# ---------------------------------------------------------------- nulls


def _config_paths(model, prefix=""):
    """Every config key path the models declare (objects and their leaves)."""
    from model.config import ConfigModel

    for field in model.model_fields.values():
        path = f"{prefix}{field.alias}"
        yield path
        inner = [
            a
            for a in getattr(field.annotation, "__args__", (field.annotation,))
            if isinstance(a, type) and issubclass(a, ConfigModel)
        ]
        for sub in inner:
            yield from _config_paths(sub, f"{path}.")


def _null_cases():
    from model.config import StackConfig

    for path in _config_paths(StackConfig):
        if path.startswith("groups.") and path.count(".") > 1 and not path.startswith("groups.validator."):
            continue  # the three groups share a model
        targets = {"vm": (LOCAL, AWS), "ssh": (SSH,), "kubernetes": (K8S,)}.get(path.split(".")[0], (LOCAL,))
        for target in targets:
            yield pytest.param(target, path, id=f"{target[0]}:{path}")


def _settings(stack: str, overrides: dict):
    try:
        return stack_settings(stack, overrides)
    except ConfigError as error:
        return error


@pytest.mark.parametrize("target, path", list(_null_cases()))
def test_null_means_the_default_or_a_one_line_error_never_none(target, path):
    """`key: null` (or `~`) is as if the key were absent: the same settings (so the same program,
    with no "None" rendered anywhere), or a one-line error naming it; never a traceback."""
    stack, fills = target
    with_null, absent = _settings(stack, {**fills, path: NULL}), _settings(stack, {**fills, path: None})
    if isinstance(with_null, ConfigError):
        # One line naming the key or its object (a null inside `vm` on a local stack still sets `vm`).
        assert len(str(with_null).splitlines()) == 1 and f"'{path.split('.')[0]}" in str(with_null), str(with_null)
        return
    assert with_null == absent


@pytest.mark.parametrize(
    "path", ["backup.keep", "backup.enabled", "protectData", "alerting", "tuning.batchSize", "groups.validator.image"]
)
def test_a_null_takes_the_default(path):
    """The same graph as with the key absent (backup.enabled: null once deployed no backups at all)."""
    from tools import plan as planner

    plan = planner.diff(planner.stack_snapshot("option-b"), planner.stack_snapshot("option-b", {path: NULL}))
    assert plan.changes == []


@pytest.mark.parametrize(
    "key, text",
    [
        ("tuning", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("alerting", "[" * 100_000 + "]" * 100_000),
        ("groups", '{"validator":' * 3_000 + "{}" + "}" * 3_000),
    ],
    ids=["object 100,000 deep", "list 100,000 deep", "groups 3,000 deep"],
)
def test_a_value_nested_absurdly_deep_is_one_line_not_a_recursion_error(key, text):
    _refused("option-b", {key: text}, key)


# ---------------------------------------------------------------- alert receivers, judged by where they lead

EMAIL_BASE = {"alerting.emailTo": "ops@example.com", "alerting.emailFrom": "alerts@example.com"}
RECEIVERS = [
    (
        "webhook to the metadata service",
        {},
        {"alertWebhookUrl": "http://169.254.169.254/latest/meta-data/"},
        "alertWebhookUrl",
    ),
    (
        "webhook to the IPv6 metadata service",
        {},
        {"alertWebhookUrl": "http://[fd00:ec2::254]/latest"},
        "alertWebhookUrl",
    ),
    ("webhook to GCP's metadata name", {}, {"alertWebhookUrl": "http://metadata.google.internal/x"}, "alertWebhookUrl"),
    ("webhook to loopback", {}, {"alertWebhookUrl": "http://127.0.0.1:9093/api/v2/alerts"}, "alertWebhookUrl"),
    ("webhook to mapped loopback", {}, {"alertWebhookUrl": "http://[::ffff:127.0.0.1]/x"}, "alertWebhookUrl"),
    ("webhook to localhost", {}, {"alertWebhookUrl": "http://localhost:8080/x"}, "alertWebhookUrl"),
    ("webhook to a file", {}, {"alertWebhookUrl": "file:///etc/passwd"}, "alertWebhookUrl"),
    ("webhook on port 99999", {}, {"alertWebhookUrl": "https://hooks.example.com:99999/x"}, "alertWebhookUrl"),
    ("webhook on port 0", {}, {"alertWebhookUrl": "https://hooks.example.com:0/x"}, "alertWebhookUrl"),
    ("webhook to multicast", {}, {"alertWebhookUrl": "http://224.0.0.1/x"}, "alertWebhookUrl"),
    (
        "Slack over plain http",
        {},
        {"alertSlackWebhookUrl": "http://hooks.slack.com/services/T0/B0/x"},
        "alertSlackWebhookUrl",
    ),
    (
        "Slack on another host",
        {},
        {"alertSlackWebhookUrl": "https://hooks.example.com/services/T0/B0/x"},
        "alertSlackWebhookUrl",
    ),
    ("smarthost port 0", {**EMAIL_BASE, "alerting.smtpSmarthost": "smtp.example.com:0"}, {}, "alerting.smtpSmarthost"),
    (
        "smarthost port 99999",
        {**EMAIL_BASE, "alerting.smtpSmarthost": "smtp.example.com:99999"},
        {},
        "alerting.smtpSmarthost",
    ),
    ("smarthost on loopback", {**EMAIL_BASE, "alerting.smtpSmarthost": "127.0.0.1:25"}, {}, "alerting.smtpSmarthost"),
    (
        "smarthost on link-local",
        {**EMAIL_BASE, "alerting.smtpSmarthost": "169.254.1.1:25"},
        {},
        "alerting.smtpSmarthost",
    ),
    (
        "emailTo with CRLF and Bcc",
        {
            **EMAIL_BASE,
            "alerting.emailTo": "ops@example.com\r\nBcc: x@evil.example",
            "alerting.smtpSmarthost": "smtp.example.com:587",
        },
        {},
        "alerting.emailTo",
    ),
    (
        "emailTo with a comma and Bcc",
        {
            **EMAIL_BASE,
            "alerting.emailTo": "ops@example.com,Bcc:x@evil.example",
            "alerting.smtpSmarthost": "smtp.example.com:587",
        },
        {},
        "alerting.emailTo",
    ),
]


@pytest.mark.parametrize("overrides, secrets, key", [c[1:] for c in RECEIVERS], ids=[c[0] for c in RECEIVERS])
def test_alert_receivers_are_judged_by_where_they_lead(overrides, secrets, key):
    message = _refused("option-b", overrides, key, secrets=secrets or None)
    for value in secrets.values():
        assert value not in message, "a receiver URL carries a token: never echoed"


@pytest.mark.parametrize(
    "overrides, secrets",
    [
        ({}, {"alertWebhookUrl": "https://hooks.example.com/aurigraph"}),
        ({}, {"alertWebhookUrl": "http://10.20.0.5:8080/alerts"}),  # a relay on the operator's private network
        ({}, {"alertSlackWebhookUrl": "https://hooks.slack.com/services/T000/B000/XXXX"}),
        ({**EMAIL_BASE, "alerting.smtpSmarthost": "smtp.example.com:587"}, {}),
        ({**EMAIL_BASE, "alerting.smtpSmarthost": "[2001:db8::25]:587"}, {}),
    ],
    ids=["https webhook", "private relay", "slack", "smarthost", "IPv6 smarthost"],
)
def test_legitimate_receivers_are_accepted(overrides, secrets):
    run = run_program("option-b", overrides, secrets=secrets or None)
    assert run.error is None, run.error


@pytest.mark.parametrize(
    "target, overrides",
    [
        (AWS, {"vm.adminCidrs": ["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/48"]}),
        (AWS, {"vm.adminCidrs": ["10.0.0.0/8"]}),  # a whole /8: the most an allowlist may cover
        (AWS, {"adminBindAddress": "0.0.0.0"}),  # behind the VM's firewall: only vm.adminCidrs reach it
        (SSH, {"adminBindAddress": "10.1.2.3"}),  # a private address of the server
        (LOCAL, {"adminBindAddress": "::1"}),
        (LOCAL, {"apiBindAddress": "::"}),
    ],
    ids=["narrow lists", "a /8", "admin behind a cloud firewall", "private on ssh", "IPv6 loopback", "API on all"],
)
def test_legitimate_exposure_is_accepted(target, overrides):
    stack, fills = target
    run = run_program(stack, {**fills, **overrides})
    assert run.error is None, run.error


# ---------------------------------------------------------------- names, over-refusal, SSH lines


def _stack_copy(tmp_path, source: str, name: str):
    """The repository's files with Pulumi.<source>.yaml also as Pulumi.<name>.yaml."""
    import shutil

    from tests.helpers import REPO
    from tools.engine import PROGRAM_DIRS, PROGRAM_FILES

    for item in PROGRAM_FILES:
        shutil.copy2(REPO / item, tmp_path / item)
    for folder in PROGRAM_DIRS:
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / f"Pulumi.{source}.yaml", tmp_path / f"Pulumi.{name}.yaml")
    return tmp_path


@pytest.mark.parametrize("user", ["root", "docker", "admin", "administrator", "sshd"])
def test_a_vm_login_that_is_a_system_account_or_refused_by_azure_is_refused(user):
    stack, fills = AWS
    _refused(stack, {**fills, "vm.sshUser": user}, "vm.sshUser")


def test_a_stack_name_docker_cannot_build_names_from_is_refused(tmp_path):
    root = _stack_copy(tmp_path, "option-b", "_prod")
    run = run_program("_prod", root=root)
    assert isinstance(run.error, ConfigError) and run.resources == []
    assert "'(stack name)'" in str(run.error) and "must start with a letter or digit" in str(run.error)


@pytest.mark.parametrize(
    "source, name, check",
    [
        (
            "gcp-option-b",
            "Prod-GCP",
            lambda run: (
                {
                    r.inputs["labels"]["aurigraph-stack"]
                    for r in run.resources
                    if r.type.startswith("gcp:") and "labels" in r.inputs
                }
                == {"prod-gcp"}
            ),
        ),
        (
            "azure-option-b",
            "prod_azure.b",
            lambda run: (
                run.of_type("azure-native:compute:VirtualMachine")[0].inputs["osProfile"]["computerName"]
                == "aurigraph-prod-azure-b"
            ),
        ),
        (
            "aws-option-b",
            "a-twenty-char-stack1",
            lambda run: len(run.of_type("aws:s3/bucket:Bucket")[0].inputs["bucketPrefix"]) <= 37,
        ),
    ],
    ids=["gcp label capitals", "azure computer name _ and .", "aws bucket prefix of a 20-character stack"],
)
def test_names_from_the_stack_are_made_to_each_consumers_rules(tmp_path, source, name, check):
    from tests.engine import standin

    root = _stack_copy(tmp_path, source, name)
    cloud = source.split("-")[0]
    run = run_program(name, {**FILLS[cloud], "backup.bucket": True} if cloud == "aws" else FILLS[cloud], root=root)
    assert run.error is None, run.error
    assert check(run)
    refused = [(r.type, f) for r in run.resources if r.custom for f in standin.check_failures(r.type, r.inputs)]
    assert refused == [], refused


@pytest.mark.parametrize(
    "target, overrides",
    [
        (AZURE, {"vm.zone": 1}),  # what `pulumi config set --path vm.zone 1` stores
        (AWS, {"vm.sshPublicKey": TEST_SSH_KEY.split()[0] + " " + TEST_SSH_KEY.split()[1] + " Jane Doe's laptop"}),
        (SSH, {"ssh.hostKey": "dlt.aurigraph.io " + " ".join(TEST_SSH_KEY.split()[:2])}),  # as ssh-keyscan prints it
        (SSH, {"ssh.hostKey": "[dlt.aurigraph.io]:2222 " + " ".join(TEST_SSH_KEY.split()[:2]), "ssh.port": 2222}),
    ],
    ids=["zone as a number", "key comment with spaces", "ssh-keyscan line", "ssh-keyscan line off port 22"],
)
def test_legitimate_forms_that_were_refused_are_accepted(target, overrides):
    stack, fills = target
    run = run_program(stack, {**fills, **overrides})
    assert run.error is None, run.error


@pytest.mark.parametrize(
    "target, overrides, key",
    [
        (GCP, {"vm.size": "n2-standard-8", "vm.cpus": 128, "vm.memoryMb": 524288}, "vm.cpus"),
        (AWS, {"vm.size": "m6i.12xlarge", "vm.cpus": 48, "vm.memoryMb": 999999}, "vm.memoryMb"),
    ],
    ids=["gcp 8 vCPUs said to be 128", "aws memory overstated"],
)
def test_a_catalog_size_cannot_be_said_to_be_bigger_than_it_is(target, overrides, key):
    stack, fills = target
    _refused(stack, {**fills, **overrides}, key)


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"tuning.leveldbCacheMb": 300}, "tuning.leveldbCacheMb"),  # 300 of 384 MB
        ({"groups.slim.leveldbCacheMb": 190}, "groups.slim.leveldbCacheMb"),
        ({"groups.business.leveldbCacheMb": 320}, "groups.business.leveldbCacheMb"),
        ({"groups.validator.memoryMb": 256}, "tuning.leveldbCacheMb"),  # the default 200 no longer fits
        ({"groups.slim.memoryMb": 128, "groups.slim.leveldbCacheMb": 100}, "groups.slim.leveldbCacheMb"),
        ({"groups.slim.memoryMb": 128}, "groups.slim.leveldbCacheMb"),  # its default 96 MB no longer fits
    ],
    ids=[
        "tuning cache in validators",
        "slim cache",
        "business cache as big as memory",
        "validator memory shrunk",
        "slim shrunk with its cache",
        "slim shrunk below its default cache",
    ],
)
def test_a_cache_each_container_cannot_hold_is_refused(overrides, key):
    _refused("option-b", overrides, key)


def _caches(run) -> dict[str, set[str]]:
    return {
        g: {
            next(e for e in r.inputs["envs"] if e.startswith("AURIGRAPH_LEVELDB_CACHE_MB="))
            for r in run.resources
            if r.type == "docker:index/container:Container" and r.name.startswith(f"{g}-")
        }
        for g in ("validator", "business", "slim")
    }


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, (200, 160, 96)),  # the spec's 200 MB for validators; the others half their preset memory at most
        ({"density": "option-c"}, (128, 128, 96)),
        ({"tuning.leveldbCacheMb": 220}, (220, 160, 96)),  # a validator cache that fits stays the validators'
        ({"groups.slim.leveldbCacheMb": 64, "groups.business.leveldbCacheMb": 180}, (200, 180, 64)),
        ({"groups.slim.memoryMb": 512}, (200, 160, 96)),  # memory moves in place; the cache stays
    ],
    ids=["option-b", "option-c", "bigger validator cache", "per-group values", "bigger slim containers"],
)
def test_each_group_gets_a_cache_its_containers_hold(overrides, expected):
    run = run_program("option-b", overrides)
    assert run.error is None, run.error
    assert _caches(run) == {
        g: {f"AURIGRAPH_LEVELDB_CACHE_MB={mb}"}
        for g, mb in zip(("validator", "business", "slim"), expected, strict=True)
    }
