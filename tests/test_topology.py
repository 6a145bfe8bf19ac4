"""Topology and planning: names, spreading, ports, peers, waves and totals (pure, no Pulumi runtime)."""

from __future__ import annotations

import pytest

from model.planning import largest_safe_unavailable, worst_case_down
from model.topology import bft_fault_budget, build_topology, spread
from tests.helpers import service_totals
from tools.mockrun import stack_plan
from tools.mockrun import stack_settings as settings_for


@pytest.mark.parametrize(
    "nodes, containers, expected",
    [
        (20, 4, [5, 5, 5, 5]),
        (15, 6, [3, 3, 3, 2, 2, 2]),
        (20, 8, [3, 3, 3, 3, 2, 2, 2, 2]),
        (17, 7, [3, 3, 3, 2, 2, 2, 2]),
        (1, 1, [1]),
    ],
)
def test_spread_is_even_with_the_remainder_first(nodes, containers, expected):
    assert spread(nodes, containers) == expected


def test_growing_a_group_by_one_container_keeps_every_existing_container_unchanged():
    before, after = spread(15, 6), spread(17, 7)
    assert after[:6] == before


@pytest.mark.parametrize("n, f", [(1, 0), (4, 1), (20, 6), (25, 8), (100, 33)])
def test_bft_fault_budget(n, f):
    assert bft_fault_budget(n) == f


def test_worst_case_counts_the_largest_containers():
    assert worst_case_down([3, 3, 3, 2, 2, 2], 2) == 6
    assert largest_safe_unavailable([3, 3, 3, 2, 2, 2], 7) == 2
    assert largest_safe_unavailable([5, 5, 5, 5], 6) == 1


def test_option_b_names_and_spread():
    t = build_topology(settings_for("option-b"))
    v = t.group("validator")
    assert [c.name for c in v.containers] == ["validator-1", "validator-2", "validator-3", "validator-4"]
    assert v.containers[0].node_names == [f"validator-1{x}" for x in "abcde"]
    assert [len(c.nodes) for c in t.group("slim").containers] == [3, 3, 3, 2, 2, 2]
    assert len(t.nodes) == 51 and len(t.containers) == 14


def test_option_c_has_65_nodes_in_18_containers():
    t = build_topology(settings_for("option-c"))
    assert t.counts() == {
        "validator": {"containers": 5, "nodes": 25},
        "business": {"containers": 5, "nodes": 20},
        "slim": {"containers": 8, "nodes": 20},
    }
    assert len(t.containers) == 18


@pytest.mark.parametrize("stack", ["option-b", "option-c", "dev"])
def test_names_are_unique_and_ports_unique_inside_each_container(stack):
    t = build_topology(settings_for(stack))
    names = [n.name for n in t.nodes]
    assert len(names) == len(set(names))
    for c in t.containers:
        ports = c.http_ports + c.p2p_ports
        assert len(ports) == len(set(ports)), c.name


def test_ports_are_deterministic():
    a = build_topology(settings_for("option-b"))
    b = build_topology(settings_for("option-b"))
    assert a == b


def test_validator_peers_name_every_validator_by_container_dns_name():
    t = build_topology(settings_for("option-b"))
    peers = t.validator_peers
    assert len(peers) == 20
    assert peers[0] == "validator-1a@validator-1:9080" and peers[-1] == "validator-4e@validator-4:9084"
    assert not any("localhost" in p or "127.0.0.1" in p for p in peers)


def test_capacity_plan_counts_the_specs_node_limits_plus_the_services():
    plan = stack_plan("option-b").capacity
    # Nodes: the spec's 14 containers, 4 x 12 + 4 x 11 + 6 x 6 = 128 CPUs and 4 x 384 + 4 x 320 +
    # 6 x 192 = 3968 MB; then every service option-b runs, as the registry limits it.
    containers, cpus, memory = service_totals("option-b")
    assert (plan.containers, plan.container_cpus, plan.container_memory_mb) == (
        14 + containers,
        128 + cpus,
        3968 + memory,
    )
    assert plan.largest_container_cpus == 12 and plan.host_cpus is None


def test_each_container_waits_for_the_one_max_unavailable_before_it():
    plan = stack_plan("option-b")
    assert [plan.wave_predecessor("validator", i) for i in (1, 2, 3, 4)] == [None, 1, 2, 3]
    assert [plan.wave_predecessor("business", i) for i in (1, 2, 3, 4)] == [None, None, 1, 2]
