"""What the Kubernetes target adds to the model: its config's leaf types (label keys, node
labels, tolerations), the services it runs, the backup CronJob's schedule, and how many logical
nodes one zone can take down.

Pure. The spread is the scheduler's (topology spread constraints, maxSkew 1, DoNotSchedule,
minDomains = kubernetes.zones): with at least `zones` zones, no zone holds more than
ceil(pods / zones) of a group's pods, and with fewer the surplus pods stay Pending rather than
crowd in. So the worst single-zone loss is the largest ceil(pods / zones) containers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .problems import Problem
from .services import ServiceSpec
from .types import Refusal, leaf, show, text

# Services the Kubernetes target does not run: cAdvisor (the kubelet serves container metrics,
# and reading them needs host paths the restricted Pod Security Standard forbids) and the S3
# uploader (target aws only). components/kube/services.py says what runs instead.
NOT_ON_KUBERNETES = frozenset({"cadvisor", "backup-uploader"})


def on_kubernetes(services: Sequence[ServiceSpec]) -> tuple[ServiceSpec, ...]:
    return tuple(s for s in services if s.name not in NOT_ON_KUBERNETES)


def pods_per_zone(pods: int, zones: int) -> int:
    """The most pods of one group a zone holds under a maxSkew 1 spread over >= `zones` zones."""
    return -(-pods // zones)


def worst_zone_loss(sizes: Sequence[int], zones: int) -> int:
    """Logical nodes lost with the zone that holds the most, the largest containers in it."""
    return sum(sorted(sizes, reverse=True)[: pods_per_zone(len(sizes), zones)])


def cron_schedule(seconds: int) -> str | None:
    """A cron schedule that runs every `seconds`, or None when cron cannot keep that interval
    (minutes dividing an hour, hours dividing a day, a day, a week)."""
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if seconds % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        return f"*/{int(minutes)} * * * *" if minutes > 1 else "* * * * *"
    if seconds % 3600 == 0 and hours < 24 and 24 % hours == 0:
        return f"0 */{int(hours)} * * *" if hours > 1 else "0 * * * *"
    if days == 1:
        return "0 0 * * *"
    if days == 7:
        return "0 0 * * 0"
    return None


def schedule_problem(interval: str, seconds: int) -> Problem | None:
    if cron_schedule(seconds) is not None:
        return None
    return Problem(
        "backup.interval",
        f"target kubernetes runs backups as a CronJob, which cannot keep {show(interval)}; expected minutes "
        "that divide an hour (such as 15m), hours that divide a day (such as 6h), 1d or 7d",
    )


# ------------------------------------------------------------------ Kubernetes
# The API server's rules (k8s.io/apimachinery/pkg/util/validation: IsQualifiedName,
# IsValidLabelValue, IsDNS1123Label), so a value refused there is refused here first, by key.

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_SUBDOMAIN = r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"({DNS_SUBDOMAIN}/)?{_NAME}")
_LABEL_VALUE = re.compile(rf"({_NAME})?")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_TOLERATION = re.compile(r"(?P<key>[^=:]+)(=(?P<value>[^=:]*))?(:(?P<effect>[A-Za-z]+))?")


def _label_key(value: Any) -> str | None:
    return value if text(value, 317) and _LABEL_KEY.fullmatch(value) else None


LabelKey = leaf(str, "a label key such as topology.kubernetes.io/zone", "string", _label_key)


def _labels(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or len(value) > 32:
        return None
    for key, item in value.items():
        if _label_key(key) is None or not (text(item, 63) is not None and _LABEL_VALUE.fullmatch(item)):
            raise Refusal(
                f'expected node labels such as {{"pool": "validators"}} (keys and values as '
                f"Kubernetes labels), got {show({key: item})}"
            )
    return dict(value)


Labels = leaf(dict[str, str], 'an object of node labels such as {"pool": "validators"}', "object", _labels)


def _tolerations(value: Any) -> tuple[dict[str, str], ...] | None:
    """`key[=value][:Effect]`, as `kubectl taint` writes a taint: Equal with a value, else Exists;
    no effect: every effect."""
    if not isinstance(value, list) or len(value) > 32:
        return None
    out: list[dict[str, str]] = []
    for item in value:
        match = _TOLERATION.fullmatch(item) if text(item, 400) else None
        key, val, effect = (match["key"], match["value"], match["effect"]) if match else (None, None, None)
        if (
            match is None
            or _label_key(key) is None
            or (val is not None and not _LABEL_VALUE.fullmatch(val))
            or (effect is not None and effect not in _EFFECTS)
        ):
            raise Refusal(
                "expected taints to tolerate as key[=value][:Effect] such as dedicated=aurigraph:NoSchedule "
                f"(Effect one of {', '.join(_EFFECTS)}), got {show(item)}"
            )
        toleration: dict[str, str] = {"key": str(key), "operator": "Equal" if val is not None else "Exists"}
        toleration.update({"value": val} if val is not None else {})
        toleration.update({"effect": effect} if effect else {})
        out.append(toleration)
    return tuple(out)


Tolerations = leaf(
    tuple[dict[str, str], ...],
    'a list of taints such as ["dedicated=aurigraph:NoSchedule"]',
    "array",
    _tolerations,
)
