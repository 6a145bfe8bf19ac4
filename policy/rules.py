"""Guardrails for the cluster, as plain CrossGuard validate functions.

`__main__.py` wraps them in a PolicyPack; tests call them directly (constructing a
PolicyPack starts its gRPC server and blocks).

Each takes `(args, report_violation)`; `args` has `.resource_type`, `.props` (the provider's
camelCase inputs), `.opts.protect` and `.get_config()`.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# The service registry (standard library only, so the pack's own virtualenv can import it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model.exposure import bind_problem, too_broad  # noqa: E402
from model.services import SERVICES  # noqa: E402

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
SERVICE_LABEL = "io.aurigraph.service"
STACK_LABEL = "io.aurigraph.stack"
# (service, container port) of every admin UI, and the services that publish nothing.
ADMIN_PORTS = {(s.name, p.port) for s in SERVICES for p in s.published if p.admin}
UNPUBLISHED = {s.name for s in SERVICES if not s.published}
RESTART_POLICIES = {"unless-stopped", "always", "on-failure"}
WORLD = {"0.0.0.0/0", "::/0", "*", "internet", "any", "0.0.0.0"}
SSH = 22

Report = Callable[[str], None]
# A stack policy's reporter also takes the URN of the resource at fault.
StackReport = Callable[[str, str], None]


def _labels(props: dict) -> dict[str, str]:
    return {item.get("label"): item.get("value") for item in props.get("labels") or []}


def _config(args, key: str, default: Any) -> Any:
    config = args.get_config() if hasattr(args, "get_config") else {}
    return (config or {}).get(key, default)


def container_healthcheck(args, report_violation: Report) -> None:
    if args.resource_type == CONTAINER:
        tests = (args.props.get("healthcheck") or {}).get("tests") or []
        if not tests or tests[0] == "NONE":
            report_violation("every container needs a healthcheck; `pulumi up` waits on it for health-gated rollouts")


def container_limits(args, report_violation: Report) -> None:
    if args.resource_type == CONTAINER:
        if not args.props.get("memory"):
            report_violation("every container needs a memory limit (`memory`, MB)")
        if not args.props.get("cpus") and not args.props.get("cpuQuota"):
            report_violation("every container needs a CPU limit (`cpus`)")


def container_restart_policy(args, report_violation: Report) -> None:
    if args.resource_type == CONTAINER and args.props.get("restart") not in RESTART_POLICIES:
        report_violation(
            f"restart must be one of {', '.join(sorted(RESTART_POLICIES))}, not {args.props.get('restart', 'no')!r}"
        )


def _is_public(ip: Any) -> bool:
    """Whether an admin port published on `ip` is open to more than the host's own networks: the
    config's rule (model/exposure.py), on a host this pack cannot know has a firewall."""
    if not ip:
        return True  # Docker publishes on every address when none is given
    return bool(bind_problem(str(ip), firewalled=False, public_ok=False))


def no_datastore_host_port(args, report_violation: Report) -> None:
    if args.resource_type != CONTAINER:
        return
    service = _labels(args.props).get(SERVICE_LABEL)
    if service in UNPUBLISHED and (args.props.get("ports") or args.props.get("publishAllPorts")):
        report_violation(f"{service} must publish no host port; it is reached by name on the cluster network")


def admin_ui_not_public(args, report_violation: Report) -> None:
    if args.resource_type != CONTAINER or _config(args, "allowPublicAdminUi", False):
        return
    service = _labels(args.props).get(SERVICE_LABEL)
    for port in args.props.get("ports") or []:
        if (service, port.get("internal")) in ADMIN_PORTS and _is_public(port.get("ip")):
            report_violation(
                f"{service} admin UI (port {port.get('internal')}) is published on every address; "
                "bind it to adminBindAddress (loopback by default) or set allowPublicAdminUi"
            )


def data_volume_protected(args, report_violation: Report) -> None:
    """Data volumes are always retain_on_delete (the program builds them one way, and a unit
    test checks the option: CrossGuard's Python SDK does not expose retainOnDelete). What the
    pack can see is protect, required on production stacks."""
    if args.resource_type != VOLUME or not _config(args, "requireProtectedData", True):
        return
    if STACK_LABEL in _labels(args.props) and not args.opts.protect:
        report_violation("data volumes must be protected on this stack (set protectData: true)")


def _ports_cover_ssh(from_port: Any, to_port: Any, protocol: Any = "tcp") -> bool:
    if str(protocol).lower() in ("-1", "all"):
        return True
    try:
        return int(from_port) <= SSH <= int(to_port)
    except (TypeError, ValueError):
        return False


def _azure_port_covers_ssh(spec: Any) -> bool:
    spec = str(spec)
    if spec == "*":
        return True
    low, _, high = spec.partition("-")
    return _ports_cover_ssh(low, high or low)


def _world(cidrs: Iterable[Any]) -> bool:
    """Whether the sources together let in too much of the internet (model/exposure.py: more than
    a /8 of IPv4 or a /24 of IPv6, however the ranges are split or embedded)."""
    networks = []
    for c in cidrs:
        if not c:
            continue
        if str(c).lower() in WORLD:
            return True
        try:
            networks.append(ipaddress.ip_network(str(c), strict=False))
        except ValueError:
            continue  # an Azure service tag or a name: not a range this rule can judge
    return bool(too_broad(networks))


def _ssh_rules(resource_type: str, props: dict) -> Iterable[tuple[bool, bool]]:
    """(opens SSH, from anywhere) for each ingress rule the resource declares."""
    if resource_type == "aws:ec2/securityGroup:SecurityGroup":
        for rule in props.get("ingress") or []:
            yield (
                _ports_cover_ssh(rule.get("fromPort"), rule.get("toPort"), rule.get("protocol")),
                _world([*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]),
            )
    elif resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        yield (
            _ports_cover_ssh(props.get("fromPort"), props.get("toPort"), props.get("protocol")),
            _world([*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]),
        )
    elif resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        yield (
            _ports_cover_ssh(props.get("fromPort"), props.get("toPort"), props.get("ipProtocol")),
            _world([props.get("cidrIpv4"), props.get("cidrIpv6")]),
        )
    elif resource_type == "gcp:compute/firewall:Firewall" and props.get("direction", "INGRESS") == "INGRESS":
        opens = any(
            str(a.get("protocol")).lower() == "all"
            or (
                str(a.get("protocol")).lower() == "tcp"
                and (not a.get("ports") or any(_azure_port_covers_ssh(p) for p in a["ports"]))
            )
            for a in props.get("allows") or []
        )
        yield opens, _world(props.get("sourceRanges") or [])
    elif resource_type in ("azure-native:network:NetworkSecurityGroup", "azure-native:network:SecurityRule"):
        rules = (props.get("securityRules") or []) if resource_type.endswith("Group") else [props]
        for rule in rules:
            if str(rule.get("direction")).lower() != "inbound" or str(rule.get("access")).lower() != "allow":
                continue
            ports = [rule.get("destinationPortRange")] + list(rule.get("destinationPortRanges") or [])
            sources = [rule.get("sourceAddressPrefix")] + list(rule.get("sourceAddressPrefixes") or [])
            yield any(_azure_port_covers_ssh(p) for p in ports if p), _world(sources)


def no_world_ssh(args, report_violation: Report) -> None:
    for opens_ssh, from_world in _ssh_rules(args.resource_type, args.props):
        if opens_ssh and from_world:
            report_violation("SSH (22) is open to the whole internet; allow only the operators' CIDRs")


def no_published_ssh_port(args, report_violation: Report) -> None:
    """A container on the host's SSH port would shadow sshd, or expose SSH where the API is open."""
    if args.resource_type != CONTAINER:
        return
    for port in args.props.get("ports") or []:
        if port.get("external") == SSH:
            report_violation(f"a container publishes host port {SSH}, the host's SSH port")


def container_hardened(args, report_violation: Report) -> None:
    if args.resource_type != CONTAINER:
        return
    props = args.props
    if props.get("privileged"):
        report_violation("no container runs privileged")
    if "ALL" not in ((props.get("capabilities") or {}).get("drops") or []):
        report_violation(
            "every container drops all capabilities (capabilities.drops: [ALL]) and adds back what it needs"
        )
    if "no-new-privileges:true" not in (props.get("securityOpts") or []):
        report_violation("every container sets no-new-privileges:true")
    if not (props.get("logOpts") or {}).get("max-size"):
        report_violation("every container rotates its logs (logOpts max-size and max-file)")


# ---------------------------------------------------------------- target kubernetes

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
# Workload kinds and where their pod spec sits.
POD_SPECS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
GROUP_LABEL = "aurigraph.io/group"
# ConfigMap keys that name a credential: it belongs in a Secret.
CREDENTIAL_WORDS = ("password", "passwd", "secret", "token", "credential", "pgpass", "private")


def _pod_spec(resource_type: str, props: dict) -> dict | None:
    spec: Any = props
    for key in POD_SPECS.get(resource_type, ("-",)):
        spec = (spec or {}).get(key) if isinstance(spec, dict) else None
    return spec if isinstance(spec, dict) and resource_type in POD_SPECS else None


def k8s_pod_not_privileged(args, report_violation: Report) -> None:
    """What the restricted Pod Security Standard forbids, checked before the API server sees it."""
    spec = _pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            report_violation(f"no pod uses the host's namespaces ({key})")
    if any("hostPath" in (v or {}) for v in spec.get("volumes") or []):
        report_violation("no pod mounts a host path")
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        security = container.get("securityContext") or {}
        if security.get("privileged"):
            report_violation(f"no container runs privileged ({container.get('name')})")
        if security.get("allowPrivilegeEscalation") is not False:
            report_violation(f"every container sets allowPrivilegeEscalation: false ({container.get('name')})")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            report_violation(f"every container drops all capabilities ({container.get('name')})")


def _selects(selector: Any, labels: dict) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def k8s_node_group_budget(args, report_violation: StackReport) -> None:
    """Every node group's pods are under a PodDisruptionBudget: without one a drain may evict
    every validator at once."""
    budgets = [r.props.get("spec") or {} for r in args.resources if r.resource_type == PDB]
    for r in args.resources:
        if r.resource_type != STATEFULSET:
            continue
        labels = ((((r.props.get("spec") or {}).get("template") or {}).get("metadata")) or {}).get("labels") or {}
        if GROUP_LABEL in labels and not any(_selects(b.get("selector"), labels) for b in budgets):
            report_violation(f"node group {labels[GROUP_LABEL]!r} ({r.name}) has no PodDisruptionBudget", r.urn)


def _values(data: Any) -> Iterable[str]:
    return [str(v) for v in (data or {}).values() if v] if isinstance(data, dict) else []


def k8s_no_secret_in_configmap(args, report_violation: StackReport) -> None:
    """ConfigMaps are readable by anyone who may read the namespace's config: no Secret's value in
    one, and no key that names a credential."""
    secrets = {v for r in args.resources if r.resource_type == SECRET for v in _values(r.props.get("stringData"))}
    secrets = {v for v in secrets if len(v) >= 8}
    for r in args.resources:
        if r.resource_type != CONFIGMAP:
            continue
        data = r.props.get("data") or {}
        for key, value in data.items():
            if any(word in key.lower() for word in CREDENTIAL_WORDS):
                report_violation(f"ConfigMap {r.name} key {key!r} names a credential; put it in a Secret", r.urn)
            if any(secret in str(value) for secret in secrets):
                report_violation(f"ConfigMap {r.name} key {key!r} holds a Secret's value", r.urn)


STACK_POLICIES = (
    ("k8s-node-group-budget", "Every node group has a PodDisruptionBudget", k8s_node_group_budget),
    ("k8s-no-secret-in-configmap", "No Secret data in a ConfigMap", k8s_no_secret_in_configmap),
)


POLICIES = (
    ("container-healthcheck", "Every container has a healthcheck", container_healthcheck),
    ("container-limits", "Every container has CPU and memory limits", container_limits),
    ("container-restart-policy", "Every container restarts by itself", container_restart_policy),
    (
        "no-datastore-host-port",
        "services that publish nothing (PostgreSQL, Redis, the exporters) have no host port",
        no_datastore_host_port,
    ),
    ("admin-ui-not-public", "Admin UIs are not published on 0.0.0.0", admin_ui_not_public),
    ("data-volume-protected", "Data volumes are protected on production stacks", data_volume_protected),
    ("no-world-ssh", "No SSH ingress from the whole internet, however the ranges are split", no_world_ssh),
    ("no-published-ssh-port", "No container publishes the host's SSH port", no_published_ssh_port),
    ("container-hardened", "Containers drop capabilities, gain no privileges and rotate logs", container_hardened),
    ("k8s-pod-not-privileged", "No pod is privileged, shares the host or keeps capabilities", k8s_pod_not_privileged),
)
