"""The Kubernetes tier is real: the real CLI and Kubernetes provider against a real control plane.

tests/kube/build makes the binaries; tests/kube/controlplane.py runs them on loopback with fake
nodes (kwok) in three zones. What this proves: the API server's validation and admission, the
controllers, the scheduler and the provider's create, await, diff and delete. What it does not:
no container runs (kwok only marks pods Ready), no volume is provisioned, no traffic flows.
"""

from __future__ import annotations

import pytest

from tests.engine.harness import engine_cli
from tests.kube.controlplane import KUBE, ApiError, ControlPlane, Zones, alive, is_ready
from tools.engine import EngineProject

pytestmark = [pytest.mark.kube, pytest.mark.xdist_group("kube")]

NAMESPACE = "tier"


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    # A pod turns Ready 1.5 s after it is scheduled, as a node takes a while to start: without a
    # delay an evicted pod's replacement is Ready again within milliseconds.
    with ControlPlane(tmp_path_factory.mktemp("control-plane"), ready_delay=1.5) as plane:
        yield plane


def test_the_control_plane_stops_every_process_it_started(tmp_path):
    with ControlPlane(tmp_path, zones=Zones(names=("zone-a",), per_zone=1)) as plane:
        pids = plane.pids
        assert len(pids) == 5 and all(alive(p) for p in pids)
        assert plane.ready_nodes() == ["zone-a-node-1"]
    assert [p for p in pids if alive(p)] == []


def test_fake_nodes_are_ready_in_three_zones(plane):
    nodes = plane.api("GET", "/api/v1/nodes")["items"]
    zones = sorted({n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes})
    assert zones == ["zone-a", "zone-b", "zone-c"]
    assert len(plane.ready_nodes()) == len(nodes) == 6


def test_a_fake_node_heartbeats_with_a_lease_and_comes_back_from_a_loss_with_its_addresses(plane):
    """What a kubelet does, and the drills rely on: it renews its node's Lease (the node lifecycle
    controller's heartbeat), and a node back from a loss still advertises the InternalIP that the
    API server's exec and port-forward dial."""
    node = "zone-c-node-2"
    lease = plane.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
    assert lease["spec"]["leaseDurationSeconds"] == 40 and lease["spec"].get("renewTime"), lease["spec"]
    plane.lose_node(node)
    plane.revive_node(node)
    addresses = plane.api("GET", f"/api/v1/nodes/{node}")["status"].get("addresses")
    assert addresses == [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}]


def test_a_program_deploys_through_the_real_provider_and_the_api_server_enforces_budget_and_admission(plane, tmp_path):
    project = EngineProject(tmp_path, engine_cli(), program=KUBE / "program")
    project.env["KUBECONFIG"] = str(plane.kubeconfig)
    project.init("tier")

    up = project.up("tier")
    # The provider awaited the StatefulSet: every replica is ready when `up` returns.
    sts = plane.api("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/nodes")
    assert sts["status"].get("readyReplicas") == 3, sts["status"]
    assert "kubernetes:apps/v1:StatefulSet" in up.out
    project.run("preview", "--expect-no-changes", "--stack", "tier")

    # A real eviction within the budget is allowed; the next one, beyond it, is refused with 429.
    pods = sorted(p["metadata"]["name"] for p in plane.pods(NAMESPACE) if is_ready(p))
    assert len(pods) == 3
    plane.evict(NAMESPACE, pods[0])
    with pytest.raises(ApiError) as refused:
        plane.evict(NAMESPACE, pods[1])
    assert refused.value.code == 429 and "disruption budget" in str(refused.value)

    # The namespace enforces the restricted Pod Security Standard: a pod that leaves the defaults
    # (root allowed, capabilities kept, no seccomp profile) is refused by the admission plugin.
    for name, security in (("defaults", None), ("privileged", {"privileged": True})):
        container = {"name": "c", "image": "busybox:1.36", **({"securityContext": security} if security else {})}
        with pytest.raises(ApiError) as denied:
            plane.api(
                "POST",
                f"/api/v1/namespaces/{NAMESPACE}/pods",
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}},
            )
        assert denied.value.code == 403 and 'violates PodSecurity "restricted:latest"' in str(denied.value), name

    project.run("destroy", "--yes", "--skip-preview", "--stack", "tier")
    for path in (
        f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/nodes",
        f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/nodes",
        f"/api/v1/namespaces/{NAMESPACE}",
    ):
        with pytest.raises(ApiError) as gone:
            plane.api("GET", path)
        assert gone.value.code == 404, path
