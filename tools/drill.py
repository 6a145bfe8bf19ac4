"""Drills: failover (stop the consensus leader's container and measure the recovery) and restore
(restore a PostgreSQL backup into the running database; see tools/restore.py).

    python -m tools.drill failover --stack option-b --yes
    python -m tools.drill failover --outputs outputs.json [--timeout 120] [--json]
    python -m tools.drill restore --stack option-b --list
    python -m tools.drill restore --stack option-b [--backup ID] [--yes] [--json]

The failover drill:

1. finds the leader (Prometheus `consensus_is_leader`) and refuses if stopping its container
   would take more than f validators down;
2. stops that container on the stack's Docker host (`docker stop`, DOCKER_HOST from the
   `host.dockerHost` output, else the local daemon);
3. waits for a new leader on another container, on a higher term (the API through HAProxy);
4. checks the validators still have their quorum and agree on the state hash per checkpoint;
5. starts the container again (always, even when a step failed) and waits for its nodes;
6. reports the time to a new leader and to full recovery.

On a target-kubernetes stack (outputs with `kubernetes`) both work through the API with kubectl
and the kubeconfig (--kubeconfig, --context): the failover drill reads Prometheus and the API
through `kubectl port-forward`, and stops the leader's pod with the Eviction API, so the API
server itself refuses it where the validators' PodDisruptionBudget allows no more disruption;
the pod's StatefulSet starts it again. The restore drill runs its commands with `kubectl exec`
(see tools/restore.py).

Both refuse a stack with protectData (production) unless told --yes; listing backups does not
need it. While the failover drill waits it says for what and for how long on stderr.

Exit status: 0 passed, 1 failed or refused, 64 could not run (bad arguments, unreadable or
undeployed outputs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from tools import ops, restore
from tools.kubectl import Kubectl
from tools.ops import VALIDATORS, Check, OpsError, Prometheus, UsageError


class DockerRuntime:
    """Stops and starts containers with the docker CLI on the stack's Docker host."""

    def __init__(self, docker_host: str | None):
        self.prefix = ["docker"] + (["-H", docker_host] if docker_host else [])

    def _run(self, *args: str) -> None:
        done = subprocess.run(self.prefix + list(args), capture_output=True, text=True)
        if done.returncode != 0:
            raise OpsError(f"{' '.join(self.prefix + list(args))}: {done.stderr.strip()}")

    def stop(self, name: str) -> None:
        self._run("stop", "--time", "30", name)

    def start(self, name: str) -> None:
        self._run("start", name)


class KubeRuntime:
    """Evicts a node container's pod (the API server refuses past its budget); its StatefulSet
    starts a new one, so `start` has nothing to do."""

    def __init__(self, kubectl: Kubectl):
        self.kubectl = kubectl

    def stop(self, name: str) -> None:
        self.kubectl.evict(name)

    def start(self, name: str) -> None:
        return None


class StubRuntime:
    """The same for the stub fleet (tools.stubnode), through its control API."""

    def __init__(self, control_url: str):
        self.url = control_url.rstrip("/")

    def _post(self, path: str) -> None:
        request = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                raise OpsError(f"stub control {path}: {response.status}")

    def stop(self, name: str) -> None:
        self._post(f"/containers/{name}/stop")

    def start(self, name: str) -> None:
        self._post(f"/containers/{name}/start")


def wait_for(what: str, condition: Callable[[], Any], timeout: float, interval: float = 0.25) -> tuple[Any, float]:
    """(the first truthy value of condition(), seconds it took); (None, timeout) if none came.

    Says on stderr what it waits for, for how long at most, and how it ended.
    """
    print(f"drill: waiting up to {timeout:g} s for {what}", file=sys.stderr, flush=True)
    value, elapsed = ops.poll(condition, timeout, interval)
    print(f"drill: {what}: {'done' if value else 'not'} after {elapsed:.1f} s", file=sys.stderr, flush=True)
    return value, elapsed


def api_consensus(outputs: dict[str, Any]) -> dict[str, Any]:
    status, body = ops.http_get(outputs["endpoints"]["api"].rstrip("/") + "/consensus/status")
    if status != 200:
        raise OpsError(f"consensus status answered {status}")
    return json.loads(body)


def failover(outputs: dict[str, Any], runtime, timeout: float) -> tuple[list[Check], dict[str, Any]]:
    prometheus = Prometheus(outputs["endpoints"]["prometheus"])
    inventory, f = outputs["nodes"], outputs["faultBudget"]
    validators = ops.validator_nodes(outputs)
    checks: list[Check] = []
    report: dict[str, Any] = {}

    leaders = [n for n, v in prometheus.values(f"consensus_is_leader{{{VALIDATORS}}}", "node").items() if v == 1]
    if len(leaders) != 1:
        return [Check("leader", "fail", f"expected one leader before the drill, found {len(leaders)}")], report
    leader = leaders[0]
    container = inventory[leader]["container"]
    docker_name = inventory[leader].get("pod") or inventory[leader]["dockerName"]  # what the runtime stops
    old_term = api_consensus(outputs)["term"]
    in_container = [n for n in validators if inventory[n]["container"] == container]
    already_down = ops.validators_down(prometheus, outputs)
    if len(set(already_down) | set(in_container)) > f:
        return [
            Check(
                "precheck",
                "fail",
                f"stopping {container} would take {len(set(already_down) | set(in_container))} "
                f"validators down, more than f = {f}; not stopping it",
            )
        ], report
    checks.append(Check("leader", "pass", f"{leader} in {container} on term {old_term}"))
    report.update(leader=leader, container=container, term=old_term)

    started = time.monotonic()
    runtime.stop(docker_name)
    try:

        def new_leader():
            status = api_consensus(outputs)
            elected = status.get("leader")
            if elected and inventory.get(elected, {}).get("container") != container and status["term"] > old_term:
                return status
            return None

        status, elected_in = wait_for("a new leader on another container", new_leader, timeout)
        if status is None:
            checks.append(Check("new leader", "fail", f"no new leader on another container within {timeout:g} s"))
        else:
            checks.append(
                Check("new leader", "pass", f"{status['leader']} on term {status['term']} after {elected_in:.1f} s")
            )
            report.update(new_leader=status["leader"], new_term=status["term"], election_seconds=round(elected_in, 2))

        # Prometheus sees the stopped nodes down after its next scrape.
        seen, _ = wait_for(
            f"Prometheus to see {container}'s nodes down",
            lambda: set(in_container) <= set(ops.validators_down(prometheus, outputs)),
            timeout,
        )
        down = ops.validators_down(prometheus, outputs)
        quorate = len(down) <= f
        checks.append(
            Check(
                "quorum",
                "pass" if quorate and seen else "fail",
                f"{len(validators) - len(down)} of {len(validators)} validators up, "
                f"{len(down)} down (f = {f})" + ("" if seen else "; Prometheus never saw the stop"),
            )
        )
        agree, detail = ops.hashes_agree(prometheus)
        checks.append(Check("state hashes", "pass" if agree else "fail", detail))
    finally:
        runtime.start(docker_name)
    back, recovered_in = wait_for(
        f"{container}'s nodes to be up again",
        lambda: not set(in_container) & set(ops.validators_down(prometheus, outputs)),
        timeout,
    )
    total = time.monotonic() - started
    checks.append(
        Check(
            "recovery",
            "pass" if back else "fail",
            f"{container} back with all its nodes after {total:.1f} s"
            if back
            else f"{container}'s nodes not up {recovered_in:.0f} s after the restart",
        )
    )
    report["recovery_seconds"] = round(total, 2)
    return checks, report


def main(argv: list[str] | None = None) -> int:
    parser = ops.ToolParser(prog="python -m tools.drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("drill", choices=["failover", "restore"])
    ops.add_source_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="run on a protectData (production) stack")
    parser.add_argument("--timeout", type=ops.seconds, default=120.0, help="failover: seconds to wait for each step")
    parser.add_argument(
        "--stub-control", metavar="URL", help="failover: drive the stub fleet (tools.stubnode) instead of docker"
    )
    parser.add_argument("--backup", metavar="ID", help="restore: the backup to restore (default: the newest)")
    parser.add_argument("--list", action="store_true", help="restore: only list the kept backups")
    parser.add_argument(
        "--lock-timeout",
        type=ops.seconds,
        default=60.0,
        help="restore: seconds to wait for a table lock before rolling the restore back",
    )
    args = parser.parse_args(argv)
    return ops.run_tool("drill", lambda: _drill(args))


def _refused(outputs: dict[str, Any], yes: bool, risk: str) -> bool:
    """Fail closed: only outputs that say protectData is false let a drill run without --yes."""
    protect = outputs.get("protectData")
    if protect is False or yes:
        return False
    why = (
        "this stack protects its data (a production stack)"
        if protect is True
        else "the outputs do not say whether this stack protects its data (no boolean protectData), so it is "
        "treated as production"
    )
    print(f"drill: {why}; {risk}. Run again with --yes to go ahead.", file=sys.stderr)
    return True


def kubectl_for(args, outputs: dict[str, Any]) -> Kubectl | None:
    """kubectl on the stack's cluster and namespace, for a target-kubernetes stack; else None."""
    kube = outputs.get("kubernetes")
    if not isinstance(kube, dict):
        return None
    if not kube.get("namespace"):
        raise UsageError("the kubernetes output names no namespace; run `pulumi up` first")
    return Kubectl(kube["namespace"], args.kubeconfig, args.context)


def _drill(args) -> int:
    outputs = ops.load_outputs(args.stack, args.outputs)
    kubectl = kubectl_for(args, outputs)
    if args.drill == "restore":
        return _restore(args, outputs, kubectl)
    if _refused(outputs, args.yes, "stopping its leader is a real outage risk"):
        return 1
    try:
        if kubectl is not None:
            checks, report = _kube_failover(outputs, kubectl, args.timeout)
        else:
            runtime = (
                StubRuntime(args.stub_control)
                if args.stub_control
                else DockerRuntime(outputs.get("host", {}).get("dockerHost"))
            )
            checks, report = failover(outputs, runtime, args.timeout)
    except OpsError as e:
        checks, report = [Check("drill", "fail", str(e))], {}
    return _report(args, f"failover drill: {args.stack or args.outputs}", checks, report)


def _kube_failover(outputs: dict[str, Any], kubectl: Kubectl, timeout: float) -> tuple[list[Check], dict[str, Any]]:
    """The failover drill with Prometheus and the API forwarded here, and pods evicted."""
    endpoints = outputs["endpoints"]
    with kubectl.forwarded(endpoints["prometheus"]) as prometheus, kubectl.forwarded(endpoints["api"]) as api:
        local = {**outputs, "endpoints": {**endpoints, "prometheus": prometheus, "api": api}}
        return failover(local, KubeRuntime(kubectl), timeout)


def _restore(args, outputs: dict[str, Any], kubectl: Kubectl | None) -> int:
    runtime = restore.runtime_for(outputs, kubectl)
    if args.list:
        try:
            with runtime:
                backups = restore.list_backups(runtime)
        except OpsError as e:
            print(f"drill: {e}", file=sys.stderr)
            return 1
        print(
            json.dumps([b.__dict__ for b in backups], indent=1) if args.json else restore.print_backups(backups),
            end="" if not args.json else "\n",
        )
        return 0
    if _refused(outputs, args.yes, "restoring replaces the data in its running database"):
        return 1
    try:
        with runtime:
            checks, report = restore.restore(runtime, args.backup, args.lock_timeout)
    except OpsError as e:
        checks, report = [Check("restore", "fail", str(e))], {}
    return _report(args, f"restore drill: {args.stack or args.outputs}", checks, report)


def _report(args, title: str, checks: list[Check], report: dict[str, Any]) -> int:
    verdict, code = ops.overall(checks)
    if args.json:
        print(ops.as_json(title, checks, verdict, report=report))
    else:
        print(ops.render(title, checks, verdict), end="")
    return 1 if code else 0  # a drill passes or fails


if __name__ == "__main__":
    raise SystemExit(main())
