"""Target kubernetes, for real: the program through the real CLI and the real Kubernetes provider
against the test control plane (tests/kube/controlplane.py), fake nodes in four zones that kwok
marks Ready a second after a pod is scheduled (a node's start-up time).

What this proves: the API server accepts every object (schema, the restricted Pod Security
admission), the provider awaits each StatefulSet, the scheduler places the pods under the
spread constraints, the disruption controller and the Eviction API honour the budgets, and the
rollout waves hold while pods really go down and come back; the drills' kubectl exec,
port-forward and eviction go through the API server (kwok's kubelet API runs the commands and
forwards the ports on this machine). What it does not: no container runs
(no image is pulled, no probe command executes: kwok reports the pods Ready), no volume is
provisioned (the claims bind to pre-made PersistentVolumes), no packet is filtered (the
NetworkPolicies are accepted, not enforced), and no managed cluster's own admission is tried.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import engine_cli
from tests.helpers import REPO, require_tool
from tests.kube.controlplane import BIN, ZONE_KEY, ApiError, ControlPlane, Zones, is_ready
from tests.test_backup import APP, APP_PASSWORD, ROWS, backed_up_ledger, backup_once
from tools import restore
from tools.demo import LoopbackCluster
from tools.drill import KubeRuntime
from tools.engine import EngineProject, nodes_per_container
from tools.kubectl import Kubectl
from tools.ops import OpsError

pytestmark = [pytest.mark.kube, pytest.mark.xdist_group("kube")]

STACK = "k8s-option-b"
NAMESPACE = "aurigraph"
STORAGE_CLASS = "fake"
READY_DELAY = 1.0
GROUP = "aurigraph.io/group"


@dataclass
class Deployed:
    plane: ControlPlane
    project: EngineProject
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("k8s-target")
    zones = Zones(names=("zone-a", "zone-b", "zone-c", "zone-d"), per_zone=2)
    with ControlPlane(root / "control-plane", zones=zones, ready_delay=READY_DELAY) as plane:
        plane.add_volumes(48, STORAGE_CLASS)
        project = EngineProject(root / "engine", engine_cli())
        project.env["KUBECONFIG"] = str(plane.kubeconfig)
        project.init(STACK)
        project.set(STACK, "kubernetes.storageClass", STORAGE_CLASS)
        project.up(STACK)
        yield Deployed(plane, project, project.outputs(STACK))


def writer(pod: dict) -> str:
    """Who last wrote the pod and, when it is not Ready, why: the Ready condition's reason."""
    fields = sorted(pod["metadata"].get("managedFields") or [], key=lambda f: f.get("time") or "")
    last = fields[-1] if fields else {}
    conditions: list[dict] = (pod.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    why = f" {ready.get('reason')}: {ready.get('message')}" if ready.get("status") == "False" else ""
    return f" (by {last.get('manager')} {last.get('subresource') or ''}{why})"


class Watch:
    """Watches the pods of `group` through the API (a real watch: every readiness change, in
    order, however loaded the machine) and records the most logical nodes unavailable at once."""

    def __init__(
        self,
        plane: ControlPlane,
        sizes: dict[str, int],
        group: str = "validator",
        on_change: Callable[[set[str]], None] | None = None,
    ):
        """on_change: called with the containers whose pods are Ready, on every change."""
        self.plane, self.sizes, self.on_change = plane, sizes, on_change
        self.path = f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={GROUP}%3D{group}"
        self.most = 0
        self.worst: list[str] = []  # the containers down when the most were
        self.timeline: list[str] = []  # every event: seconds, type, pod, uid, ready or deleting
        self._started = time.monotonic()
        self.events = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._listed = threading.Event()
        self.error: BaseException | None = None

    def _down(self, pods: dict[str, dict]) -> int:
        ready = {p["metadata"]["labels"]["aurigraph.io/workload"] for p in pods.values() if is_ready(p)}
        if self.on_change is not None:
            self.on_change(ready)
        down = sum(n for container, n in self.sizes.items() if container not in ready)
        if down > self.most:
            self.most, self.worst = down, sorted(set(self.sizes) - ready)
        return down

    def report(self) -> str:
        """The worst moment and every event, for an assertion's message."""
        return f"down at worst: {self.worst}; events:\n" + "\n".join(self.timeline)

    def _run(self) -> None:
        try:
            self._follow()
        except BaseException as error:  # raised again in the test's thread, by __exit__
            self.error = error
            self._listed.set()

    def _follow(self) -> None:
        listed = self.plane.api("GET", self.path)
        pods = {p["metadata"]["name"]: p for p in listed["items"]}
        version = listed["metadata"]["resourceVersion"]
        self._down(pods)
        self._listed.set()
        while not self._stop.is_set():
            for event in self.plane.watch(self.path, version):
                pod = event["object"]
                assert event["type"] != "ERROR", pod
                version = pod["metadata"]["resourceVersion"]
                if event["type"] == "DELETED":
                    pods.pop(pod["metadata"]["name"], None)
                elif event["type"] != "BOOKMARK":
                    pods[pod["metadata"]["name"]] = pod
                    self.events += 1
                if event["type"] != "BOOKMARK":
                    state = "deleting" if pod["metadata"].get("deletionTimestamp") else f"ready={is_ready(pod)}"
                    state += writer(pod)
                    self.timeline.append(
                        f"{time.monotonic() - self._started:7.2f} {event['type']:<8} {pod['metadata']['name']} "
                        f"{pod['metadata']['uid'][:8]} {state}"
                    )
                self._down(pods)

    def __enter__(self) -> Watch:
        self._thread.start()
        assert self._listed.wait(30) and self.error is None, f"the pods could not be listed: {self.error}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error


def test_up_then_preview_shows_no_changes(deployed):
    deployed.project.run("preview", "--expect-no-changes", "--stack", STACK)
    assert deployed.outputs["kubernetes"]["worstZoneLoss"]["validator"] == 5
    assert deployed.outputs["kubernetes"]["disruptionBudgets"] == {"validator": 1, "business": 2, "slim": 2}


def test_the_smoke_test_reads_the_cluster_through_the_api(deployed, tmp_path):
    code, report, _ = run_tool(deployed, tmp_path, "tools.smoke")
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    # Healthy but for the backups: the CronJob has not run yet.
    assert statuses == {
        "node pods ready": "pass",
        "validator quorum": "pass",
        "service pods ready": "pass",
        "disruption budgets": "pass",
        "zone spread": "pass",
        "data claims": "pass",
        "backups": "warn",
    }, report
    assert code == 2 and report["result"] == "DEGRADED"


def test_every_pod_is_admitted_under_restricted_and_ready(deployed):
    plane = deployed.plane
    namespace = plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    statefulsets = plane.api("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets")["items"]
    pods = plane.pods(NAMESPACE)
    # 14 node containers and 10 services, each its own StatefulSet; every pod admitted and ready.
    assert len(statefulsets) == 24 == len(pods)
    assert all(is_ready(p) for p in pods)
    assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)
    # The API server's own verdict on the pod template: a server-side dry run of each pod as is.
    for pod in pods[:3]:
        spec = {k: v for k, v in pod["spec"].items() if k not in ("nodeName",)}
        probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dry-run-" + pod["metadata"]["name"]}}
        plane.api("POST", f"/api/v1/namespaces/{NAMESPACE}/pods?dryRun=All", {**probe, "spec": spec})
    claims = plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")["items"]
    assert len(claims) == 14 + 6 and all(c["status"]["phase"] == "Bound" for c in claims)


def test_no_secret_reaches_a_configmap_a_pod_spec_or_the_state(deployed):
    plane = deployed.plane
    secrets = plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets")["items"]
    values = {
        base64.b64decode(v).decode()
        for s in secrets
        for v in (s.get("data") or {}).values()
        if len(base64.b64decode(v)) >= 12
    }
    # Every generated password is 32 characters; the rendered files carry them too.
    passwords = {v for v in values if len(v) == 32 and v.isalnum()}
    assert len(passwords) >= 6, "expected the six generated passwords in Secrets"
    configmaps = json.dumps(plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps")["items"])
    specs = json.dumps([p["spec"] for p in plane.pods(NAMESPACE)])
    state = json.dumps(deployed.project.export(STACK))
    for password in passwords:
        assert password not in configmaps
        assert password not in specs
        assert password not in state


def zone_loads(plane: ControlPlane, namespace: str, outputs: dict[str, Any]) -> dict[str, int]:
    """Validator logical nodes per zone, where the real scheduler put each pod."""
    zone_of = {
        n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
        for n in plane.api("GET", "/api/v1/nodes")["items"]
    }
    sizes = nodes_per_container(outputs, "validator")
    per_zone: dict[str, int] = {}
    for pod in plane.pods(namespace, f"{GROUP}=validator"):
        zone = zone_of[pod["spec"]["nodeName"]]
        per_zone[zone] = per_zone.get(zone, 0) + sizes[pod["metadata"]["labels"]["aurigraph.io/workload"]]
    return per_zone


def test_validators_spread_so_one_zone_holds_at_most_the_planned_loss(deployed):
    per_zone = zone_loads(deployed.plane, NAMESPACE, deployed.outputs)
    assert sorted(per_zone.values()) == [5, 5, 5, 5]
    assert max(per_zone.values()) <= deployed.outputs["kubernetes"]["worstZoneLoss"]["validator"]
    assert deployed.outputs["kubernetes"]["worstZoneLoss"]["validator"] <= deployed.outputs["faultBudget"]


def test_in_three_zones_the_plan_warns_and_the_scheduler_places_what_it_said(deployed):
    """The same cluster on the nodes of three zones only (a node selector on a label the test
    gives them): the plan's worst zone loss, 10 validator nodes, is above f = 6, so an
    unprotected stack deploys with a warning, and the scheduler's placement bears the plan out."""
    plane, project = deployed.plane, deployed.project
    for node in plane.api("GET", "/api/v1/nodes")["items"]:
        if node["metadata"]["labels"]["topology.kubernetes.io/zone"] != "zone-d":
            plane.api(
                "PATCH",
                f"/api/v1/nodes/{node['metadata']['name']}",
                {"metadata": {"labels": {"pool": "three-zones"}}},
                content_type="application/merge-patch+json",
            )
    # The validators as option-b lays them out (4 pods of 5), one pod each for the others.
    stack = "three-zones"
    config = {
        "target": "kubernetes",
        "density": "custom",
        "groups": {
            "validator": {"containers": 4, "nodes": 20, "cpus": 12, "memoryMb": 384},
            "business": {"containers": 1, "nodes": 1, "cpus": 1, "memoryMb": 320},
            "slim": {"containers": 1, "nodes": 1, "cpus": 1, "memoryMb": 320},
        },
        "backup": {"enabled": False},
        "kubernetes": {"namespace": stack, "storageClass": STORAGE_CLASS, "nodeSelector": {"pool": "three-zones"}},
    }
    stack_file = {"config": {f"aurigraph-cluster:{key}": value for key, value in config.items()}}
    (project.dir / f"Pulumi.{stack}.yaml").write_text(json.dumps(stack_file))
    project.run("stack", "init", stack)
    up = project.up(stack)
    assert "kubernetes.zones: losing one of 3 zones could take 10 validator nodes down" in up.text
    outputs = project.outputs(stack)
    per_zone = zone_loads(plane, "three-zones", outputs)
    assert "zone-d" not in per_zone and sorted(per_zone.values()) == [5, 5, 10]
    assert max(per_zone.values()) == outputs["kubernetes"]["worstZoneLoss"]["validator"] == 10 > outputs["faultBudget"]


def test_draining_every_node_never_takes_more_than_f_validators_down(deployed):
    plane, outputs = deployed.plane, deployed.outputs
    f = outputs["faultBudget"]
    allowed = refused = 0
    with Watch(plane, nodes_per_container(outputs, "validator")) as watch:
        # Two validator pods at once, with nowhere for a replacement to go (every node cordoned, so
        # however slow this machine, the first stays down): the second eviction would take 10 of
        # 20 down, above f, and the API server refuses it, to `kubectl drain` as to the failover
        # drill (its stop, with kubectl).
        nodes = sorted(n["metadata"]["name"] for n in plane.api("GET", "/api/v1/nodes")["items"])
        try:
            for node in nodes:
                plane.cordon(node)
            first, second = sorted(p["metadata"]["name"] for p in plane.pods(NAMESPACE, f"{GROUP}=validator"))[:2]
            plane.evict(NAMESPACE, first)
            budget = f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/validator-nodes"
            for evict in (
                lambda: plane.evict(NAMESPACE, second),
                lambda: KubeRuntime(kubectl(plane)).stop(second),
            ):
                with pytest.raises((ApiError, OpsError)) as beyond:
                    evict()
                    pytest.fail(f"a second validator eviction was allowed: {plane.api('GET', budget)['status']}")
                assert "disruption budget" in str(beyond.value)
            assert str(beyond.value).startswith(f"evicting {second}: ") and "\n" not in str(beyond.value)
            allowed, refused = 1, 1
            for node in nodes:
                plane.cordon(node, False)
            for node in nodes:
                plane.cordon(node)
                deadline = time.monotonic() + 120
                while True:
                    on_node = [
                        p
                        for p in plane.pods(NAMESPACE)
                        if p["spec"].get("nodeName") == node and not p["metadata"].get("deletionTimestamp")
                    ]
                    if not on_node:
                        break
                    assert time.monotonic() < deadline, (
                        f"{node} not drained: {[p['metadata']['name'] for p in on_node]}"
                    )
                    for pod in on_node:
                        try:
                            plane.evict(NAMESPACE, pod["metadata"]["name"])
                            allowed += 1
                        except ApiError as error:
                            if error.code != 429:
                                raise
                            refused += 1
                    time.sleep(0.5)
                plane.cordon(node, False)
        finally:  # a failed drill leaves no node cordoned for the tests after it
            for node in nodes:
                plane.cordon(node, False)
        # Wait for the last replacements (every pod, not only the validators) before the watch ends.
        deadline = time.monotonic() + 60
        while not all(is_ready(p) for p in plane.pods(NAMESPACE)) and time.monotonic() < deadline:
            time.sleep(0.2)
    print(f"drain: {allowed} evictions allowed, {refused} refused; most validator nodes down {watch.most} (f = {f})")
    assert refused > 0, "no eviction was ever refused: the budgets were not tested"
    assert 0 < watch.most <= f, watch.report()
    assert all(is_ready(p) for p in plane.pods(NAMESPACE))


@pytest.mark.parametrize("parallel", [None, 64], ids=["rollout-default-parallel", "rollback-parallel-64"])
def test_an_image_rollout_and_its_rollback_keep_the_validators_quorum(deployed, parallel):
    plane, project, outputs = deployed.plane, deployed.project, deployed.outputs
    f = outputs["faultBudget"]
    image = "aurigraph/v11-native:11.0.1" if parallel is None else "aurigraph/v11-native:11.0.0"
    project.set(STACK, "image", image)
    extra = ("--parallel", str(parallel)) if parallel else ()
    with Watch(plane, nodes_per_container(outputs, "validator")) as watch:
        started = time.monotonic()
        up = project.up(STACK, *extra)
        makespan = time.monotonic() - started
    pods = plane.pods(NAMESPACE, f"{GROUP}=validator")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {image}
    # Lower bound: the validators' 4 waves of one pod, each Ready a second after it is scheduled.
    lower = 4 * READY_DELAY
    print(
        f"{image}: most validator nodes down {watch.most} (f = {f}), makespan {makespan:.1f} s, lower bound {lower:g} s"
    )
    assert watch.most <= f, watch.report()
    assert watch.most > 0, f"no validator pod went down ({watch.events} pod events):\n{up.out[-3000:]}"
    assert makespan >= lower


def test_a_bad_kubernetes_config_fails_in_one_line_and_registers_nothing(deployed):
    project = deployed.project
    project.run("stack", "init", "bad")
    project.set("bad", "target", "kubernetes")
    project.set("bad", "density", "option-b")
    project.set("bad", "kubernetes.apiServiceType", "LoadBalancer")
    project.set("bad", "kubernetes.apiCidrs[0]", "0.0.0.0/0")
    # `up` runs the program as preview does (tests/test_engine.py runs both verbs on a bad config).
    for verb in (["preview"],):
        result = project.run(*verb, "--stack", "bad", check=False)
        assert result.code != 0
        assert "Traceback" not in result.text and 'File "' not in result.text
        # The CLI shows a diagnostic twice (in the progress view and under Diagnostics).
        messages = {
            line.split("error: ", 1)[1]
            for line in result.text.splitlines()
            if "kubernetes.apiCidrs" in line and "error: " in line
        }
        assert len(messages) == 1 and "never the whole internet" in messages.pop(), result.text
    assert not project.export("bad")["deployment"].get("resources"), "something was registered"


def test_option_c_previews_against_the_cluster(deployed):
    project = deployed.project
    project.init("k8s-option-c")
    project.set("k8s-option-c", "kubernetes.namespace", "aurigraph-c")
    preview = project.preview_json("k8s-option-c")
    workloads = [
        s["urn"] for s in preview["steps"] if s["op"] == "create" and "$kubernetes:apps/v1:StatefulSet::" in s["urn"]
    ]
    assert len([urn for urn in workloads if "NodeGroup$" in urn]) == 7 + 5 + 8


def run_tool(deployed: Deployed, tmp_path: Path, tool: str, *argv: str) -> tuple[int, dict[str, Any], str]:
    """python -m TOOL on the deployed stack's outputs, with the tier's kubectl and kubeconfig:
    (exit status, its JSON, its stderr). The outputs are read now, as an operator would: a rollout
    by an earlier test renames the pods it replaced."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(deployed.project.outputs(STACK)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            tool,
            *argv,
            "--outputs",
            str(outputs),
            "--kubeconfig",
            str(deployed.plane.kubeconfig),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECTL": str(BIN / "kubectl")},
        timeout=300,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.startswith("{") else {}, done.stderr


def drill(deployed: Deployed, tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any], str]:
    return run_tool(deployed, tmp_path, "tools.drill", *argv)


def exec_in(plane: ControlPlane, pod: str, env: dict[str, str]) -> None:
    """`kubectl exec` into pod runs on this machine with env (kwok's Exec)."""
    plane.kwok_rule(
        "Exec", NAMESPACE, pod, {"execs": [{"local": {"envs": [{"name": k, "value": v} for k, v in env.items()]}}]}
    )


def until_kwok_has(what: str, probe: Callable[[], object], seconds: float = 30) -> None:
    """kwok watches its rules and learns a new one a moment later (longer on a loaded machine); it
    learns them in the order they were made, so a probe of the last one made waits for all."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe()
            return
        except (OpsError, OSError, subprocess.CalledProcessError) as error:
            assert time.monotonic() < deadline, f"kwok never took {what}: {error}"
            time.sleep(0.2)


def pod_of(plane: ControlPlane, workload: str) -> str:
    """The one pod of a workload (its StatefulSet is auto-named, and so is the pod)."""
    (pod,) = plane.pods(NAMESPACE, f"aurigraph.io/workload={workload}")
    return pod["metadata"]["name"]


def kubectl(plane: ControlPlane) -> Kubectl:
    """The drills' kubectl, the tier's binary on the control plane."""
    return Kubectl(NAMESPACE, str(plane.kubeconfig), binary=str(BIN / "kubectl"))


def test_the_restore_drill_restores_a_backup_through_kubectl_exec(deployed, tmp_path):
    """The drill's own pod from the CronJob's template and its `kubectl exec`s go through the
    real API server to kwok's kubelet API, which runs each command here: the backup script
    against a real PostgreSQL 16, and PostgreSQL's tools as its superuser on its socket."""
    plane = deployed.plane
    backup = deployed.project.outputs(STACK)["backup"]
    assert backup["cronJob"] == "postgres-backup" and backup["databasePod"] == pod_of(plane, "postgres")
    drill_pod = f"{backup['cronJob']}-drill"
    with backed_up_ledger(tmp_path) as (pg, runtime, _):
        for tool in ("psql", "pg_restore"):
            (plane.local_bin / tool).unlink(missing_ok=True)
            (plane.local_bin / tool).symlink_to(pg.bin_dir / tool)
        (plane.local_bin / "aurigraph-backup").unlink(missing_ok=True)
        (plane.local_bin / "aurigraph-backup").symlink_to(runtime.script)
        # The pods' PATH: the image's commands are on it (here, in the control plane's local_bin).
        path = f"{plane.local_bin}:{runtime.backup_env['PATH']}"
        exec_in(plane, drill_pod, {**runtime.backup_env, "PATH": path})
        exec_in(
            plane,
            backup["databasePod"],
            {"PATH": path, "PGHOST": str(pg.base), "PGPORT": str(pg.port), "PGUSER": "postgres"},
        )
        until_kwok_has(
            "the Exec rules", lambda: kubectl(plane).run("exec", backup["databasePod"], "--", "true", what="exec")
        )
        done = backup_once(runtime)  # the CronJob's run: kwok runs no job
        assert done.returncode == 0, done.stderr
        backup_id = done.stdout.strip()
        damage = "DELETE FROM blocks WHERE height > 100; DROP TABLE audit.events"
        assert pg("-c", damage, user=APP, password=APP_PASSWORD, database="aurigraph").returncode == 0

        code, result, stderr = drill(deployed, tmp_path, "restore", "--list")
        assert code == 0, stderr
        code, result, stderr = drill(deployed, tmp_path, "restore")
        assert code == 1 and "--yes" in stderr  # a protectData stack
        code, result, stderr = drill(deployed, tmp_path, "restore", "--yes")
        assert code == 0, (result, stderr)
        assert result["report"]["restored"] == backup_id
        assert result["report"]["tables"] == {
            "audit.events": {"before": None, "after": 37},
            "public.accounts": {"before": 120, "after": 120},
            "public.blocks": {"before": 100, "after": 500},
        }
        assert restore.row_counts(runtime) == ROWS
        # The drill deleted its pod; a pod of that name means a drill runs, and a second refuses.
        plane._wait(
            "the drill's pod to go", lambda: not plane._exists(f"/api/v1/namespaces/{NAMESPACE}/pods/{drill_pod}"), 30
        )
        restricted = {
            "runAsNonRoot": True,
            "runAsUser": 999,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        plane.api(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            {
                "metadata": {"name": drill_pod},
                "spec": {"containers": [{"name": "main", "image": "busybox", "securityContext": restricted}]},
            },
        )
        try:
            code, result, stderr = drill(deployed, tmp_path, "restore", "--yes")
        finally:
            plane.api("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{drill_pod}")
        assert code == 1 and "another restore drill is running" in json.dumps(result), (result, stderr)


def test_the_failover_drill_evicts_the_leaders_pod_and_measures_the_recovery(deployed, tmp_path):
    """The drill reaches Prometheus and the API with `kubectl port-forward` (through the real API
    server to kwok's kubelet API, forwarded here to a stub fleet of this stack with real
    Prometheus and HAProxy in front) and evicts the leader's pod with the Eviction API. The
    fleet's containers run while their pods are Ready (what a kubelet would do), so the real
    StatefulSet controller, scheduler and kwok's readiness decide when the old leader is back."""
    plane, outputs = deployed.plane, deployed.outputs
    f = outputs["faultBudget"]
    sizes = nodes_per_container(outputs, "validator")
    with LoopbackCluster(
        tmp_path,
        "250ms",
        require_tool("prometheus"),
        require_tool("haproxy"),
        election_timeout=0.3,
        stack=STACK,
    ) as live:
        live.wait_healthy(60)
        local = live.outputs["endpoints"]
        forwards: dict[str, list[dict]] = {}
        for workload, key in (("prometheus", "prometheus"), ("haproxy", "api"), ("haproxy", "haproxyStats")):
            pod = pod_of(plane, workload)
            port = urllib.parse.urlsplit(outputs["endpoints"][key]).port
            target = {"address": "127.0.0.1", "port": urllib.parse.urlsplit(local[key]).port}
            forwards.setdefault(pod, []).append({"ports": [port], "target": target})
        for pod, rules in forwards.items():
            plane.kwok_rule("PortForward", NAMESPACE, pod, {"forwards": rules})

        def forwarded() -> None:  # haproxy's rule was made last
            with kubectl(plane).forwarded(outputs["endpoints"]["haproxyStats"]) as stats:
                urllib.request.urlopen(stats, timeout=5).close()

        until_kwok_has("the PortForward rules", forwarded)
        running = set(sizes)

        def kubelet(ready: set[str]) -> None:
            for container in set(sizes) - ready & running:
                live.post(f"/containers/{container}/stop")
                running.discard(container)
            for container in ready & set(sizes) - running:
                live.post(f"/containers/{container}/start")
                running.add(container)

        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in plane.pods(NAMESPACE)}
        with Watch(plane, sizes, on_change=kubelet) as watch:
            code, result, stderr = drill(deployed, tmp_path, "failover", "--yes", "--timeout", "60")
        report = result.get("report", {})
        assert code == 0, (result, stderr)
        # The smoke test's node checks, through the same port-forwards, see the fleet whole again.
        live.wait_healthy(30)
        _, smoke, _ = run_tool(deployed, tmp_path, "tools.smoke", "--forward")
    forwarded = {c["name"]: c["status"] for c in smoke["checks"]}
    assert forwarded["validator quorum (Prometheus)"] == "pass" and forwarded["validator quorum"] == "pass", smoke
    assert {forwarded[n] for n in ("nodes up", "haproxy backends", "api /consensus/status", "consensus leader")} == {
        "pass"
    }, smoke
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["quorum"]["status"] == "pass" and checks["recovery"]["status"] == "pass", checks
    nodes = deployed.project.outputs(STACK)["nodes"].values()
    evicted = next(n["pod"] for n in nodes if n["container"] == report["container"])
    assert plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{evicted}")["metadata"]["uid"] != uids[evicted]
    assert report["new_term"] > report["term"] and report["new_leader"] != report["leader"]
    assert watch.most <= f, watch.report()
    print(
        f"failover: {report['container']} evicted, new leader after {report['election_seconds']} s, "
        f"recovered after {report['recovery_seconds']} s; at most {watch.most} validator nodes down (f = {f})"
    )


def claims(plane: ControlPlane) -> dict[str, str]:
    """Claim -> the volume it is bound to."""
    items = plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")["items"]
    return {c["metadata"]["name"]: c["spec"]["volumeName"] for c in items}


# The README's lost-node runbook: mark the node out of service, ..., lift the mark.
_BLOCK = re.search(r"```sh\n(kubectl taint node NODE .*?)```", (REPO / "README.md").read_text(), re.S)
assert _BLOCK is not None, "the README has no lost-node runbook"
RUNBOOK = [line.split("#")[0].strip() for line in _BLOCK.group(1).splitlines() if line.startswith("kubectl taint")]


def kubectl_runbook(plane: ControlPlane, command: str, node: str) -> None:
    """A README kubectl command, verbatim but for NODE, with the tier's kubectl and kubeconfig."""
    argv = [str(BIN / "kubectl"), "--kubeconfig", str(plane.kubeconfig)] + shlex.split(command)[1:]
    done = subprocess.run([a.replace("NODE", node) for a in argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("scope", ["node", "zone"])
def test_a_lost_node_or_zone_costs_at_most_the_planned_loss_and_the_out_of_service_taint_brings_pods_back(
    deployed, scope
):
    """Machines die without a drain: their pods never finish terminating, and a one-pod
    StatefulSet does not run its pod twice, so they stay down. The operator's runbook (the
    README's) marks the nodes out of service; the real taint eviction and pod GC controllers
    delete their pods, and their StatefulSets start them again on the same claims: on the zone's
    other node, or, with the whole zone gone, elsewhere for every pod but the validator, which
    the zone spread keeps Pending until its zone is back."""
    plane, outputs = deployed.plane, deployed.outputs
    f = outputs["faultBudget"]
    zone_of = {
        n["metadata"]["name"]: n["metadata"]["labels"][ZONE_KEY] for n in plane.api("GET", "/api/v1/nodes")["items"]
    }
    validator = plane.pods(NAMESPACE, f"{GROUP}=validator")[0]
    first = validator["spec"]["nodeName"]
    lost = [n for n in zone_of if n == first or (scope == "zone" and zone_of[n] == zone_of[first])]
    on_lost = {
        p["metadata"]["name"]: p["metadata"]["uid"] for p in plane.pods(NAMESPACE) if p["spec"].get("nodeName") in lost
    }
    expected_pending = {validator["metadata"]["name"]} if scope == "zone" else set()
    before = claims(plane)
    try:
        with Watch(plane, nodes_per_container(outputs, "validator")) as watch:
            for node in lost:
                plane.lose_node(node)
            time.sleep(2 * READY_DELAY)
            assert {p["metadata"]["name"] for p in plane.pods(NAMESPACE)} >= set(on_lost), (
                "a pod went without the runbook"
            )
            started = time.monotonic()
            for node in lost:
                kubectl_runbook(plane, RUNBOOK[0], node)

            def back() -> bool:
                pods = {p["metadata"]["name"]: p for p in plane.pods(NAMESPACE)}
                return all(
                    n in pods and pods[n]["metadata"]["uid"] != uid and (is_ready(pods[n]) or n in expected_pending)
                    for n, uid in on_lost.items()
                )

            plane._wait(f"the lost {scope}'s pods to be back", back, 90)
            recovered = time.monotonic() - started
            pods = {p["metadata"]["name"]: p for p in plane.pods(NAMESPACE) if p["metadata"]["name"] in on_lost}
            pending = {n for n, p in pods.items() if not p["spec"].get("nodeName")}
            assert pending == expected_pending, f"pending: {pending}"
            assert all(pods[n]["spec"]["nodeName"] not in lost for n in set(pods) - pending)
            if scope == "node":  # the validator stays in its zone, on the zone's other node
                assert zone_of[pods[validator["metadata"]["name"]]["spec"]["nodeName"]] == zone_of[first]
            else:
                scheduled = next(
                    c
                    for c in pods[validator["metadata"]["name"]]["status"]["conditions"]
                    if c["type"] == "PodScheduled"
                )
                assert "topology spread" in scheduled["message"], scheduled
    finally:
        for node in lost:
            kubectl_runbook(plane, RUNBOOK[-1], node)
            plane.revive_node(node)
    plane._wait("every pod Ready again", lambda: all(is_ready(p) for p in plane.pods(NAMESPACE)), 90)
    assert claims(plane) == before
    assert 0 < watch.most <= f, watch.report()
    print(
        f"{scope} loss: {len(on_lost)} pods on {', '.join(lost)}, back {recovered:.1f} s after the taint "
        f"({len(expected_pending)} Pending until the zone returned); at most {watch.most} validator nodes down (f = {f})"
    )


def test_destroy_keeps_the_claims_of_a_protected_stack(deployed):
    plane, project = deployed.plane, deployed.project
    refused = project.run("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False)
    assert refused.code != 0 and "protected" in refused.text
    project.run("state", "unprotect", "--all", "--yes", "--stack", STACK)
    project.run("destroy", "--yes", "--skip-preview", "--stack", STACK)
    claims = plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")["items"]
    assert len(claims) == 20
    assert plane.api("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets")["items"] == []
    # The namespace stays too: deleting it would delete the claims in it.
    assert plane.api("GET", f"/api/v1/namespaces/{NAMESPACE}")["status"]["phase"] == "Active"
