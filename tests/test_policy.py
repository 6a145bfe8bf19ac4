"""The CrossGuard pack's validate functions on recorded resources: each passes the real stacks and
catches a violation. (Constructing the PolicyPack itself starts a server and blocks, so it is not.)"""

from __future__ import annotations

import copy
import importlib.util
import sys

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from tests.helpers import ALL_IPV4_BUT_0_8, CONTAINER, REPO, VOLUME

sys.path.insert(0, str(REPO / "policy"))
spec = importlib.util.spec_from_file_location("policy_rules", REPO / "policy" / "rules.py")
assert spec is not None and spec.loader is not None
rules = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rules)


def args_for(resource_type: str, props: dict, *, protect: bool = False, config: dict | None = None):
    opts = PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    return ResourceValidationArgs(resource_type, props, "urn:test", "test", opts, None, config or {})


def violations(validate, resource_type, props, **kw) -> list[str]:
    found: list[str] = []
    validate(args_for(resource_type, props, **kw), lambda message, urn=None: found.append(message))
    return found


def recorded(run, name, type_token=CONTAINER) -> dict:
    return copy.deepcopy(run.named(name, type_token).inputs)


@pytest.mark.parametrize("stack", ["option-b", "option-c", "k8s-option-b", "k8s-option-c"])
def test_every_recorded_resource_passes_every_policy(stack_run, stack):
    run = stack_run(stack)
    for reg in run.resources:
        for name, _, validate in rules.POLICIES:
            assert violations(validate, reg.type, reg.inputs, protect=reg.protect) == [], (name, reg.urn)
    for name, _, validate in rules.STACK_POLICIES:
        assert stack_violations(validate, stack_args(run)) == [], name


def test_dev_volumes_pass_with_the_dev_policy_config(stack_run):
    for reg in stack_run("dev").of_type(VOLUME):
        assert (
            violations(
                rules.data_volume_protected,
                VOLUME,
                reg.inputs,
                protect=reg.protect,
                config={"requireProtectedData": False},
            )
            == []
        )
        assert violations(rules.data_volume_protected, VOLUME, reg.inputs, protect=reg.protect) != []


def test_a_container_without_healthcheck_is_refused(stack_run):
    props = recorded(stack_run("option-b"), "validator-1")
    del props["healthcheck"]
    assert violations(rules.container_healthcheck, CONTAINER, props)


def test_a_container_without_limits_is_refused(stack_run):
    props = recorded(stack_run("option-b"), "grafana")
    del props["memory"], props["cpus"]
    assert len(violations(rules.container_limits, CONTAINER, props)) == 2


def test_a_container_that_never_restarts_is_refused(stack_run):
    props = recorded(stack_run("option-b"), "slim-1")
    props["restart"] = "no"
    assert violations(rules.container_restart_policy, CONTAINER, props)


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_a_datastore_publishing_a_port_is_refused(stack_run, service):
    props = recorded(stack_run("option-b"), service)
    props["ports"] = [{"internal": 5432, "external": 5432, "ip": "127.0.0.1"}]
    assert violations(rules.no_datastore_host_port, CONTAINER, props)


@pytest.mark.parametrize(
    "service, port", [("grafana", 3000), ("prometheus", 9090), ("jaeger", 16686), ("haproxy", 8404)]
)
def test_an_admin_ui_on_every_address_is_refused_unless_allowed(stack_run, service, port):
    props = recorded(stack_run("option-b"), service)
    for p in props["ports"]:
        if p["internal"] == port:
            p["ip"] = "0.0.0.0"
    assert violations(rules.admin_ui_not_public, CONTAINER, props)
    assert violations(rules.admin_ui_not_public, CONTAINER, props, config={"allowPublicAdminUi": True}) == []


def test_the_api_frontend_may_be_public(stack_run):
    props = recorded(stack_run("option-b"), "haproxy")
    assert any(p["internal"] == 8080 and p["ip"] == "0.0.0.0" for p in props["ports"])
    assert violations(rules.admin_ui_not_public, CONTAINER, props) == []


def test_an_unprotected_data_volume_is_refused(stack_run):
    props = recorded(stack_run("option-b"), "validator-1-data", VOLUME)
    assert violations(rules.data_volume_protected, VOLUME, props, protect=True) == []
    assert violations(rules.data_volume_protected, VOLUME, props, protect=False)


def test_data_volumes_are_retained_on_delete(stack_run):
    # What the pack cannot see (PolicyResourceOptions has no retainOnDelete), checked here.
    for stack in ("option-b", "dev"):
        for reg in stack_run(stack).of_type(VOLUME):
            assert reg.retain_on_delete, reg.urn


WORLD_SSH = [
    (
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}]},
        {
            "ingress": [
                {"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["203.0.113.0/24"]},
                {"fromPort": 8080, "toPort": 8080, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]},
            ]
        },
    ),
    (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"fromPort": 0, "toPort": 65535, "ipProtocol": "tcp", "cidrIpv6": "::/0"},
        {"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "cidrIpv4": "198.51.100.7/32"},
    ),
    (
        "gcp:compute/firewall:Firewall",
        {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
        {"sourceRanges": ["203.0.113.0/24"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
    ),
    (
        "aws:ec2/securityGroup:SecurityGroup split in halves",
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}]},
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["198.51.100.0/24"]}]},
    ),
    (
        "gcp:compute/firewall:Firewall in quarters",
        {
            "sourceRanges": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
            "allows": [{"protocol": "tcp", "ports": ["22"]}],
        },
        {"sourceRanges": ["203.0.113.0/24", "10.20.0.0/16"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
    ),
    # Judged by how much of the internet the list lets in, not by whether it adds up to /0.
    (
        "aws:ec2/securityGroup:SecurityGroup all but 0/8",
        {
            "ingress": [
                {
                    "fromPort": 22,
                    "toPort": 22,
                    "protocol": "tcp",
                    "cidrBlocks": list(ALL_IPV4_BUT_0_8),
                }
            ]
        },
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["1.0.0.0/8"]}]},
    ),
    (
        "aws:ec2/securityGroup:SecurityGroup IPv6 global unicast",
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "ipv6CidrBlocks": ["2000::/3"]}]},
        {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "ipv6CidrBlocks": ["2001:db8::/32"]}]},
    ),
    (
        "gcp:compute/firewall:Firewall IPv4-mapped",
        {"sourceRanges": ["::ffff:0:0/96"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
        {"sourceRanges": ["::ffff:203.0.113.0/120"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
    ),
    (
        "azure-native:network:NetworkSecurityGroup v6 halves",
        {
            "securityRules": [
                {
                    "direction": "Inbound",
                    "access": "Allow",
                    "destinationPortRange": "22",
                    "sourceAddressPrefixes": ["::/1", "8000::/1"],
                }
            ]
        },
        {
            "securityRules": [
                {
                    "direction": "Inbound",
                    "access": "Allow",
                    "destinationPortRange": "22",
                    "sourceAddressPrefixes": ["2001:db8::/32"],
                }
            ]
        },
    ),
    (
        "azure-native:network:NetworkSecurityGroup",
        {
            "securityRules": [
                {
                    "direction": "Inbound",
                    "access": "Allow",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": "Internet",
                }
            ]
        },
        {
            "securityRules": [
                {
                    "direction": "Inbound",
                    "access": "Allow",
                    "destinationPortRange": "22",
                    "sourceAddressPrefix": "203.0.113.0/24",
                },
                {"direction": "Inbound", "access": "Deny", "destinationPortRange": "22", "sourceAddressPrefix": "*"},
            ]
        },
    ),
]


@pytest.mark.parametrize("resource_type, violating, passing", WORLD_SSH, ids=[w[0] for w in WORLD_SSH])
def test_ssh_open_to_the_world_is_refused(resource_type, violating, passing):
    resource_type = resource_type.split(" ")[0]
    assert violations(rules.no_world_ssh, resource_type, violating)
    assert violations(rules.no_world_ssh, resource_type, passing) == []


def test_a_container_on_the_hosts_ssh_port_is_refused(stack_run):
    props = recorded(stack_run("option-b"), "haproxy")
    assert violations(rules.no_published_ssh_port, CONTAINER, props) == []
    props["ports"][0]["external"] = 22
    assert violations(rules.no_published_ssh_port, CONTAINER, props)


@pytest.mark.parametrize("change", ["privileged", "capabilities", "securityOpts", "logOpts"])
def test_a_container_that_is_not_hardened_is_refused(stack_run, change):
    props = recorded(stack_run("option-b"), "cadvisor")
    if change == "privileged":
        props["privileged"] = True
    else:
        del props[change]
    assert violations(rules.container_hardened, CONTAINER, props)


def test_every_container_drops_all_capabilities_but_what_the_registry_lists(stack_run):
    from model.services import BY_NAME

    for reg in stack_run("option-b").of_type(CONTAINER):
        service = BY_NAME.get(reg.name)
        assert reg.inputs["capabilities"]["drops"] == ["ALL"]
        # As Docker stores them (model/readback.py): with the CAP_ prefix.
        assert sorted(reg.inputs["capabilities"].get("adds", [])) == sorted(
            f"CAP_{c}" for c in (service.capabilities if service else [])
        )
        assert not reg.inputs.get("privileged") and reg.inputs["logDriver"] == "json-file"


def test_the_pack_lists_every_policy_once():
    names = [p[0] for p in (*rules.POLICIES, *rules.STACK_POLICIES)]
    assert len(names) == len(set(names)) == 12
    source = (REPO / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in source and "POLICIES" in source and "STACK_POLICIES" in source


# ---------------------------------------------------------------- target kubernetes


def stack_args(run, drop: str | None = None, edit=None):
    """The stack policies' view of a recorded run: every custom resource, optionally one type
    dropped and the props edited."""
    from types import SimpleNamespace

    resources = []
    for reg in run.resources:
        if not reg.custom or reg.type == drop:
            continue
        props = copy.deepcopy(reg.inputs)
        if edit:
            edit(reg, props)
        resources.append(SimpleNamespace(resource_type=reg.type, props=props, name=reg.name, urn=reg.urn))
    return SimpleNamespace(resources=resources)


def stack_violations(validate, args) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, urn=None: found.append(message))
    return found


def test_a_privileged_or_host_sharing_pod_is_refused(stack_run):
    props = recorded(stack_run("k8s-option-b"), "validator-1", rules.STATEFULSET)
    spec = props["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    spec["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    spec["containers"][0]["securityContext"] = {"privileged": True}
    found = violations(rules.k8s_pod_not_privileged, rules.STATEFULSET, props)
    assert len(found) == 5, found


def test_a_node_group_without_a_budget_is_refused(stack_run):
    found = stack_violations(rules.k8s_node_group_budget, stack_args(stack_run("k8s-option-b"), drop=rules.PDB))
    assert len(found) == 14 and "has no PodDisruptionBudget" in found[0]


def test_secret_data_in_a_configmap_is_refused(stack_run):
    run = stack_run("k8s-option-b")

    def leak(reg, props):
        if reg.type == rules.CONFIGMAP and reg.name == "prometheus-config":
            props["data"]["db-password"] = "x"
            password = next(iter(run.secret_values))
            props["data"]["etc_prometheus_prometheus.yml"] += f"\n# {password}\n"

    found = stack_violations(rules.k8s_no_secret_in_configmap, stack_args(run, edit=leak))
    assert len(found) == 2, found
