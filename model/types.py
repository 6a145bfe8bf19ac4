"""The leaf types of the stack config: what each accepts, said once, for errors and the reference.

Each is an `Annotated` type whose validator takes the raw value as the Pulumi CLI hands it
over (strings for numbers and booleans set on the command line) and either returns it
converted or raises `Refusal` with an "expected ..., got ..." message. `Rule` metadata on the
type is what tools/configdoc.py prints in the README's config reference.

Strings are matched whole and never carry control characters: every one of them ends up in a
file, a command line or a Docker or cloud API.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from .exposure import Network, too_broad, unreachable_from_a_container
from .readback import docker_cpus

PLACEHOLDER = "PLACEHOLDER"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The longest number text worth parsing: int() of a 5,000-digit string is slow and refused.
_MAX_NUMBER_TEXT = 24


class Refusal(Exception):
    """A value refused with a message of its own (not the rule's "expected ..." line)."""


@dataclass(frozen=True)
class Rule:
    expected: str  # "a whole number from 1 to 500"
    kind: str  # how Pulumi.yaml types it: string, integer, number, boolean, array


def show(value: Any, limit: int = 60) -> str:
    """A value for an error message: JSON (so control characters are escaped), shortened."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refused(message: str) -> PydanticCustomError:
    return PydanticCustomError("aurigraph", "{message}", {"message": message})


def leaf(python_type: Any, expected: str, kind: str, convert: Callable[[Any], Any]) -> Any:
    """`convert` returns the value, or None to refuse it with "expected <expected>, got <value>"."""

    def validate(value: Any) -> Any:
        if value is None:  # JSON null: as if the key were absent
            return None
        try:
            result = convert(value)
        except Refusal as refusal:
            raise refused(str(refusal)) from None
        if result is None:
            raise refused(f"expected {expected}, got {show(value)}")
        return result

    return Annotated[python_type, PlainValidator(validate), Rule(expected, kind)]


def text(value: Any, max_length: int = 255) -> str | None:
    """A string without control characters, at most `max_length` long (else None)."""
    if not isinstance(value, str) or len(value) > max_length or _CONTROL.search(value):
        return None
    return value


# ------------------------------------------------------------------ numbers and words


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and re.fullmatch(r"[+-]?[0-9]+", value):
        value = int(value)
    return value if isinstance(value, int) else None


def Int(minimum: int, maximum: int) -> Any:
    def convert(value: Any) -> int | None:
        number = _whole(value)
        return number if number is not None and minimum <= number <= maximum else None

    return leaf(int, f"a whole number from {minimum} to {maximum}", "integer", convert)


def OneOf(*allowed: int) -> Any:
    """A whole number from a short list (an interval a scheduler accepts)."""
    return leaf(
        int, "one of " + ", ".join(map(str, allowed)), "integer", lambda v: _whole(v) if _whole(v) in allowed else None
    )


def _number(value: Any, minimum: float, maximum: float) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and re.fullmatch(r"[+-]?[0-9]*\.?[0-9]+", value):
        value = float(value)
    if not isinstance(value, (int, float)):
        return None
    number = float(value)
    ok = math.isfinite(number) and minimum <= number <= maximum and round(number, 2) == number
    return number if ok else None


def _number_expected(minimum: float, maximum: float) -> str:
    return f"a number from {minimum:g} to {maximum:g} with at most two decimals"


def Number(minimum: float, maximum: float) -> Any:
    return leaf(float, _number_expected(minimum, maximum), "number", lambda v: _number(v, minimum, maximum))


def Cpus(minimum: float, maximum: float) -> Any:
    """A container's CPU limit: a Number that Docker also reads back as given (model/readback.py)."""

    def convert(value: Any) -> float | None:
        cpus = _number(value, minimum, maximum)
        if cpus is not None:
            try:
                docker_cpus(cpus)
            except ValueError as error:
                raise Refusal(str(error)) from None
        return cpus

    return leaf(float, _number_expected(minimum, maximum), "number", convert)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


Bool = leaf(bool, "true or false", "boolean", _bool)


def Choice(*choices: str) -> Any:
    return leaf(str, "one of " + ", ".join(choices), "string", lambda v: v if v in choices else None)


def Text(pattern: str, expected: str, max_length: int = 255) -> Any:
    return leaf(str, expected, "string", lambda v: v if text(v, max_length) and re.fullmatch(pattern, v) else None)


# A host name (RFC 1123) or an IP address; a user name as useradd accepts it.
HOSTNAME = r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
USER = r"[a-z_][a-z0-9_-]{0,31}"


def _ip(value: Any) -> str | None:
    try:
        # A zone id (fe80::1%eth0) names an interface, not an address Docker or a cloud takes.
        return str(ipaddress.ip_address(value)) if text(value, 64) and "%" not in value else None
    except ValueError:
        return None


IpAddress = leaf(str, "an IPv4 or IPv6 address such as 127.0.0.1", "string", _ip)
Host = leaf(
    str,
    "a host name or IP address such as dlt.example.com",
    "string",
    lambda v: v if text(v, 253) and (re.fullmatch(HOSTNAME, v) or _ip(v)) else None,
)


# ------------------------------------------------------------------ images

# Docker image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
_IMAGE = re.compile(
    r"(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?"
)


def _image(value: Any) -> str | None:
    match = _IMAGE.fullmatch(value) if text(value, 512) else None
    if not match:
        return None
    if not match.group("tag") and not match.group("digest"):
        raise Refusal(
            f"expected an image pinned to a version tag or digest (rollback by revert needs a pin), got {show(value)}"
        )
    if match.group("tag") == "latest" and not match.group("digest"):
        raise Refusal(
            "expected a pinned version tag or digest, not 'latest' (reverting config could not roll "
            f"it back), got {show(value)}"
        )
    return value


Image = leaf(str, "an image reference such as registry.example.com/aurigraph/v11-native:11.0.0", "string", _image)


# ------------------------------------------------------------------ durations

# Prometheus's duration grammar (common/model.ParseDuration): units in this order, each at
# most once. A bare "0" is Prometheus's zero; zero is refused here (no interval may be zero).
_UNITS = (
    ("y", 365 * 86400_000),
    ("w", 7 * 86400_000),
    ("d", 86400_000),
    ("h", 3600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)
_DURATION = re.compile("".join(rf"(?:(?P<{u}>[0-9]+){u})?" for u, _ in _UNITS))
_MAX_DURATION_MS = 2**63 // 1_000_000  # Go's time.Duration, in milliseconds


def duration_ms(value: str) -> int | None:
    match = _DURATION.fullmatch(value) if value else None
    if not match:
        return None
    return sum(int(match.group(u)) * ms for u, ms in _UNITS if match.group(u))


def valid_ms(value: str) -> int:
    """A duration already known to be valid (a bound written here, a validated value), in ms."""
    ms = duration_ms(value)
    if ms is None:
        raise ValueError(f"not a duration: {value!r}")
    return ms


def Duration(minimum: str, maximum: str) -> Any:
    lo, hi = valid_ms(minimum), valid_ms(maximum)

    def convert(value: Any) -> str | None:
        ms = duration_ms(value) if text(value, 32) else None
        return value if ms is not None and lo <= ms <= min(hi, _MAX_DURATION_MS) else None

    return leaf(str, f"a Prometheus duration from {minimum} to {maximum} such as 30s, 5m or 15d", "string", convert)


# ------------------------------------------------------------------ networks


def _cidrs(allow_world: bool, guards: str) -> Callable[[Any], tuple[str, ...] | None]:
    def convert(value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value or len(value) > 100:
            return None
        networks: list[Network] = []
        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=True) if text(item, 64) else None
            except ValueError:
                network = None
            if network is None:
                raise Refusal(f"expected CIDRs such as 203.0.113.0/24 with no host bits set, got {show(item)}")
            networks.append(network)
        why = "" if allow_world else too_broad(networks)
        if why:
            raise Refusal(
                f"expected operator CIDRs, never the whole internet ({guards} behind "
                f"this list), got {show(value)}: {why}"
            )
        return tuple(str(n) for n in networks)

    return convert


def Cidrs(allow_world: bool, guards: str = "SSH and admin ports are") -> Any:
    """`guards`: what the list lets in, said when it is refused as the whole internet."""
    return leaf(
        tuple[str, ...], 'a non-empty list of CIDRs such as ["203.0.113.0/24"]', "array", _cidrs(allow_world, guards)
    )


# ------------------------------------------------------------------ SSH

_KEY_TYPES = {
    "ssh-ed25519": 1,
    "ssh-rsa": 2,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
}  # how many fields follow the type name in the key blob
_EC_POINT = {"ecdsa-sha2-nistp256": 65, "ecdsa-sha2-nistp384": 97, "ecdsa-sha2-nistp521": 133}


def _fields(blob: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(blob):
        length = int.from_bytes(blob[pos : pos + 4], "big")
        if pos + 4 + length > len(blob):
            raise ValueError("truncated")
        out.append(blob[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return out


def _key_material_ok(kind: str, fields: list[bytes]) -> bool:
    if len(fields) != 1 + _KEY_TYPES[kind] or fields[0].decode() != kind:
        return False
    if kind == "ssh-ed25519":
        return len(fields[1]) == 32
    if kind == "ssh-rsa":
        return int.from_bytes(fields[2], "big").bit_length() >= 2048 and int.from_bytes(fields[1], "big") > 1
    return fields[1].decode() == kind.rsplit("-", 1)[1] and len(fields[2]) == _EC_POINT[kind] and fields[2][0] == 4


def _public_key(value: Any) -> str | None:
    if isinstance(value, str) and "PRIVATE KEY" in value:
        # Not a line of it is repeated: the config (and this message) may be shared.
        raise Refusal(
            "this is a private key: remove it from the stack config now and give the public key line "
            "(the .pub file) instead; treat the private key as exposed"
        )
    parts = value.split(None, 2) if text(value, 16384) else []
    # The comment is free text (spaces too: "Jane Doe's laptop"); control characters are refused above.
    if len(parts) in (2, 3) and parts[0] in _KEY_TYPES:
        try:
            if _key_material_ok(parts[0], _fields(base64.b64decode(parts[1], validate=True))):
                return value
        except (ValueError, UnicodeDecodeError):
            pass
    return None


def _host_key(value: Any) -> str | None:
    """A server's host key as `ssh-keyscan` prints it ("host ssh-ed25519 AAAA...", or
    "[host]:port ..."), or as the .pub file holds it: kept as "type data" (the host names in front
    are the lookup ssh makes itself, and a comment is not needed to pin the key)."""
    if not text(value, 16384):
        return None
    parts = value.split()
    while parts and parts[0] not in _KEY_TYPES and len(parts) > 2:
        parts = parts[1:]  # ssh-keyscan's host (or comma-separated hosts) before the key type
    return " ".join(parts[:2]) if len(parts) >= 2 and _public_key(" ".join(parts[:2])) else None


SshPublicKey = leaf(
    str,
    "an OpenSSH public key line such as 'ssh-ed25519 AAAAC3Nza... you@host' (the .pub file; "
    "RSA keys of 2048 bits or more)",
    "string",
    _public_key,
)
SshHostKey = leaf(
    str,
    "a host key line as ssh-keyscan prints it ('host ssh-ed25519 AAAAC3Nza...') or as the host's .pub file holds it",
    "string",
    _host_key,
)


def _zone(value: Any) -> str | None:
    # `pulumi config set --path vm.zone 1` stores the number 1 (Azure's zones are 1, 2 and 3).
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if text(value, 40) and re.fullmatch(r"[a-z0-9-]{1,40}", value) else None


Zone = leaf(str, "a zone such as eu-west-1a (Azure: 1, 2 or 3)", "string", _zone)

# Login names a VM must not be given: system accounts, the docker group, and the names Azure
# refuses ("The Admin Username specified is not allowed").
RESERVED_USERS = frozenset(
    {
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "nobody",
        "systemd-network",
        "sshd",
        "messagebus",
        "docker",
        "admin",
        "administrator",
        "user",
        "user1",
        "user2",
        "user3",
        "user4",
        "user5",
        "test",
        "test1",
        "test2",
        "test3",
        "guest",
        "owner",
        "support",
        "server",
        "sql",
        "console",
        "actuser",
        "adm",
        "admin1",
        "admin2",
        "aspnet",
        "david",
        "john",
        "a",
    }
)


def _login(value: Any) -> str | None:
    if not (text(value, 32) and re.fullmatch(USER, value)):
        return None
    if value in RESERVED_USERS:
        raise Refusal(
            f"{show(value)} is a system account, the docker group or a name Azure refuses; choose "
            "another login name such as aurigraph"
        )
    return value


LoginUser = leaf(str, "a user name such as aurigraph", "string", _login)

# ssh options the docker provider may pass to ssh: -o Name=value, with these names only. No
# ProxyCommand or LocalCommand (they run local commands), and host keys are always checked.
SSH_OPTIONS: dict[str, str] = {
    "ServerAliveInterval": r"[0-9]{1,4}",
    "ServerAliveCountMax": r"[0-9]{1,3}",
    "ConnectTimeout": r"[0-9]{1,4}",
    "ConnectionAttempts": r"[0-9]{1,2}",
    "StrictHostKeyChecking": r"yes",
    "BatchMode": r"yes|no",
    "Compression": r"yes|no",
    "IdentitiesOnly": r"yes|no",
    "IdentityFile": r"[A-Za-z0-9_./~-]{1,255}",
    "UserKnownHostsFile": r"[A-Za-z0-9_./~-]{1,255}",
}


def _ssh_opts(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or len(value) > 40 or not all(isinstance(o, str) for o in value):
        return None
    options, items = [], iter(value)
    for item in items:
        option = next(items, None) if item == "-o" else item[2:] if item.startswith("-o") else None
        name, _, setting = (option or "").partition("=")
        if name not in SSH_OPTIONS or not re.fullmatch(SSH_OPTIONS[name], setting):
            raise Refusal(
                'expected ssh options as "-o", "Name=value" with Name one of '
                f"{', '.join(SSH_OPTIONS)} (StrictHostKeyChecking only =yes), got {show(option or item)}"
            )
        options += ["-o", f"{name}={setting}"]
    return tuple(options)


SshOpts = leaf(tuple[str, ...], 'a list of ssh options such as ["-o", "ServerAliveInterval=30"]', "array", _ssh_opts)


# ------------------------------------------------------------------ secrets

MIN_SECRET_LENGTH = 12
MAX_SECRET_LENGTH = 128


def _secret(value: Any) -> str | None:
    # Never echo the value, even in part: the message may be shared.
    if not text(value, MAX_SECRET_LENGTH) or len(value) < MIN_SECRET_LENGTH:
        raise Refusal(
            f"expected a password of at least {MIN_SECRET_LENGTH} characters (at most {MAX_SECRET_LENGTH}, "
            "no control characters) (value not shown)"
        )
    return value


Secret = leaf(str, f"a password of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters", "string", _secret)


def _port_ok(port: str | None) -> bool:
    return port is None or (port.isdigit() and 1 <= int(port) <= 65535)


_URL = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?(/[!-~]*)?")


def _receiver_url(value: Any, *, https_only: bool = False, hosts: tuple[str, ...] = ()) -> str:
    """A receiver's URL, judged by where it leads; the refusal never shows the value (it carries a token)."""
    match = _URL.fullmatch(value) if text(value, 2048) else None
    scheme = "https" if https_only else "http(s)"
    if not match:
        raise Refusal(f"expected an {scheme} URL such as https://hooks.example.com/... (value not shown)")
    if https_only and match["scheme"] != "https":
        raise Refusal("expected https: the URL carries the webhook's token, never sent in the clear (value not shown)")
    if not _port_ok(match["port"]):
        raise Refusal("expected a port from 1 to 65535 in the URL (value not shown)")
    if hosts and match["host"].lower() not in hosts:
        raise Refusal(f"expected a URL on {' or '.join(hosts)} (value not shown)")
    why = unreachable_from_a_container(match["host"])
    if why:
        raise Refusal(f"the URL's host {why}; expected the receiver's own address (value not shown)")
    return value


def _secret_url(value: Any) -> str | None:
    return _receiver_url(value)


def _slack_url(value: Any) -> str | None:
    # Slack's incoming webhooks live on hooks.slack.com (hooks.slack-gov.com for GovSlack), https only.
    return _receiver_url(value, https_only=True, hosts=("hooks.slack.com", "hooks.slack-gov.com"))


def _smarthost(value: Any) -> str | None:
    match = (
        re.fullmatch(r"(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})", value)
        if text(value, 300)
        else None
    )
    if not match or not _port_ok(match["port"]):
        return None
    if unreachable_from_a_container(match["host"]):
        raise Refusal(
            f"the SMTP server {show(value)} {unreachable_from_a_container(match['host'])}; expected "
            "the mail server's own host:port such as smtp.example.com:587"
        )
    return value


def _routing_key(value: Any) -> str | None:
    if not text(value, 64) or not re.fullmatch(r"[A-Za-z0-9]{32}", value):
        raise Refusal("expected a PagerDuty Events v2 routing key, 32 letters and digits (value not shown)")
    return value


SecretUrl = leaf(str, "an http(s) URL", "string", _secret_url)
SlackUrl = leaf(str, "an https URL on hooks.slack.com", "string", _slack_url)
Smarthost = leaf(str, "host:port such as smtp.example.com:587 (port 1 to 65535)", "string", _smarthost)
RoutingKey = leaf(str, "a PagerDuty routing key (32 letters and digits)", "string", _routing_key)
EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+"
