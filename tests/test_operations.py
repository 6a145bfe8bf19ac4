"""The smoke tool and the failover drill against a live cluster on loopback.

A stub fleet of the `dev` stack (4 validators, f = 1; 2 business; 2 slim nodes) serves the
node API; real Prometheus and real HAProxy run on configs made by the project's own
renderers, with targets pointed at the fleet. The tools see only the published endpoints,
as they would on a real host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, require_tool
from tools import drill, smoke
from tools.demo import LoopbackCluster, wait_until

# One loopback cluster for the module, its tests in order on one worker; the live tier.
pytestmark = [pytest.mark.live, pytest.mark.xdist_group("loopback-cluster")]

SCRAPE = "1s"


class Cluster(LoopbackCluster):
    """The demo's loopback cluster, with what the tests poke it with."""

    def up(self, node: str) -> float:
        return self.prometheus.values('up{job=~"aurigraph-.*"}', "node").get(node, -1.0)

    def wait_seen(self, node: str, value: float) -> None:
        wait_until(lambda: self.up(node) == value, what=f"Prometheus to see {node} up={value:g}")

    def smoke(self) -> tuple[int, dict]:
        out = _capture(lambda: smoke.main(["--outputs", str(self.outputs_file), "--json"]))
        return out[0], json.loads(out[1])


def _capture(fn):
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = fn()
    return code, buffer.getvalue()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    prometheus_bin, haproxy_bin = require_tool("prometheus"), require_tool("haproxy")
    with Cluster(tmp_path_factory.mktemp("loopback"), SCRAPE, prometheus_bin, haproxy_bin) as live:
        live.wait_healthy()
        yield live


@pytest.fixture
def healthy(cluster):
    """Each test starts from, and leaves, a healthy cluster."""
    cluster.wait_healthy()
    yield cluster
    for container in cluster.fleet.running:
        cluster.post(f"/containers/{container}/start")
    for node in cluster.fleet.nodes:
        for switch in ("converge", "healthy", "fast"):
            cluster.post(f"/nodes/{node}/{switch}")
    cluster.wait_healthy()


def statuses(result: dict) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["detail"]) for c in result["checks"]}


def test_smoke_passes_on_a_healthy_cluster(healthy):
    code, result = healthy.smoke()
    assert (code, result["result"]) == (0, "HEALTHY"), result
    checks = statuses(result)
    assert checks["nodes up"] == ("pass", "8/8 logical nodes up")
    assert checks["haproxy backends"][0] == "pass" and checks["api /consensus/status"][0] == "pass"
    assert checks["tps"] == ("pass", "1,200,000 (target 900,000, alert at 750,000)")


def test_one_validator_container_down_is_degraded_but_quorate(healthy):
    healthy.post("/containers/validator-2/stop")
    healthy.wait_seen("validator-2a", 0.0)
    code, result = healthy.smoke()
    assert (code, result["result"]) == (2, "DEGRADED"), result
    checks = statuses(result)
    assert checks["validator quorum"] == ("warn", "degraded but quorate: 1 of 4 validators down, within f = 1")
    assert checks["consensus leader"][0] == "pass" and checks["tps"][0] == "pass"  # 3 x 300,000 meets the target


def test_more_than_f_validators_down_loses_quorum(healthy):
    healthy.post("/containers/validator-2/stop")
    healthy.post("/containers/validator-3/stop")
    healthy.wait_seen("validator-2a", 0.0)
    healthy.wait_seen("validator-3a", 0.0)
    wait_until(
        lambda: sum(healthy.prometheus.values('consensus_is_leader{job="aurigraph-validator"}', "node").values()) == 0,
        what="the leader to step down",
    )
    code, result = healthy.smoke()
    assert (code, result["result"]) == (1, "FAILED"), result
    checks = statuses(result)
    assert checks["validator quorum"] == ("fail", "quorum lost: 2 of 4 validators down, more than f = 1")
    assert checks["consensus leader"] == ("fail", "no leader")
    assert checks["tps"][0] == "fail"


def test_diverging_state_hashes_fail_the_smoke(healthy):
    healthy.post("/nodes/validator-3a/diverge")
    wait_until(
        lambda: any(
            n > 1
            for n in healthy.prometheus.values(
                'count by (checkpoint) (count by (checkpoint, hash) (consensus_state_hash_info{job="aurigraph-validator"}))',
                "checkpoint",
            ).values()
        ),
        what="Prometheus to see two hashes",
    )
    code, result = healthy.smoke()
    assert code == 1 and statuses(result)["state hashes"][0] == "fail"


def test_failover_drill_measures_a_recovery(healthy):
    leader_before = healthy.fleet.status()["leader"]
    code, out = _capture(
        lambda: drill.main(
            [
                "failover",
                "--outputs",
                str(healthy.outputs_file),
                "--stub-control",
                healthy.control,
                "--timeout",
                "30",
                "--json",
            ]
        )
    )
    result = json.loads(out)
    assert (code, result["result"]) == (0, "HEALTHY"), result
    report = result["report"]
    assert report["leader"] == leader_before and report["new_leader"] != leader_before
    assert report["new_term"] > report["term"]
    assert 0 < report["election_seconds"] < 30 and report["recovery_seconds"] >= report["election_seconds"]
    checks = statuses(result)
    assert checks["quorum"][0] == "pass" and checks["state hashes"][0] == "pass"
    assert healthy.fleet.running[healthy.outputs["nodes"][leader_before]["container"]]  # started again


def test_drill_refuses_when_stopping_the_leader_would_exceed_f(healthy):
    leader = healthy.fleet.status()["leader"]
    other = next(
        c for c in ("validator-2", "validator-3", "validator-4") if c != healthy.outputs["nodes"][leader]["container"]
    )
    healthy.post(f"/containers/{other}/stop")
    healthy.wait_seen(f"{other}a", 0.0)
    code, out = _capture(
        lambda: drill.main(
            [
                "failover",
                "--outputs",
                str(healthy.outputs_file),
                "--stub-control",
                healthy.control,
                "--timeout",
                "10",
                "--json",
            ]
        )
    )
    assert code == 1 and "more than f = 1; not stopping it" in out
    assert healthy.fleet.status()["leader"] == leader  # nothing was stopped


@pytest.mark.parametrize("protect", [True, "missing", "false", None, 0])
def test_drill_refuses_a_protected_or_unknown_stack_without_yes(healthy, tmp_path, protect):
    """Fail closed: anything but protectData false counts as production."""
    protected = {k: v for k, v in healthy.outputs.items() if k != "protectData"}
    if protect != "missing":
        protected["protectData"] = protect
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(protected))
    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        code = drill.main(["failover", "--outputs", str(path), "--stub-control", healthy.control])
    assert code == 1 and "--yes" in err.getvalue()


def test_smoke_runs_as_a_command_with_a_readable_table(healthy):
    done = subprocess.run(
        [sys.executable, "-m", "tools.smoke", "--outputs", str(healthy.outputs_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CHECK" in done.stdout and "validator quorum" in done.stdout and done.stdout.endswith("result: HEALTHY\n")


def test_a_leader_that_steps_down_is_replaced_on_a_new_term(healthy):
    before = healthy.fleet.status()
    healthy.post("/leader/demote")
    wait_until(
        lambda: healthy.fleet.status()["leader"] is not None and healthy.fleet.status()["term"] == before["term"] + 1,
        what="a new election",
    )
    healthy.wait_healthy()
    code, result = healthy.smoke()
    assert code == 0 and statuses(result)["consensus term"][1] == f"all 4 validators on term {before['term'] + 1}"


def test_a_slow_node_fails_the_latency_targets(healthy):
    healthy.post("/nodes/validator-2a/slow")
    wait_until(
        lambda: (healthy.prometheus.scalar('max(finality_latency_ms{quantile="0.95"})') or 0) > 300,
        what="Prometheus to see the slow node",
    )
    code, result = healthy.smoke()
    checks = statuses(result)
    assert code == 1 and checks["p95 latency"] == ("fail", "600 ms: past the alert threshold 300 ms")
    assert checks["p99 latency"][0] == "fail"
    healthy.post("/nodes/validator-2a/fast")
    wait_until(
        lambda: healthy.prometheus.scalar('max(finality_latency_ms{quantile="0.95"})') == 120,
        what="latency back to normal",
    )


def test_an_unready_api_node_is_taken_out_by_haproxy_and_reported(healthy):
    healthy.post("/nodes/business-2a/unhealthy")
    # HAProxy's own checks: every 5 s, down after 3 failures.
    wait_until(
        lambda: (
            "DOWN" in smoke.ops.haproxy_servers(healthy.outputs["endpoints"]["haproxyStats"]).get("business-2a", "")
        ),
        timeout=40,
        what="HAProxy to mark business-2a DOWN",
    )
    code, result = healthy.smoke()
    assert code == 2 and statuses(result)["haproxy backends"] == ("warn", "1/2 API servers UP; not UP: business-2a")
    assert statuses(result)["api /info"][0] == "pass"  # the other business node answers
    healthy.post("/nodes/business-2a/healthy")
    wait_until(
        lambda: smoke.ops.haproxy_servers(healthy.outputs["endpoints"]["haproxyStats"])["business-2a"].startswith("UP"),
        timeout=40,
        what="HAProxy to bring business-2a back",
    )
