"""How long the program takes to evaluate under mocks and under the real engine.

    python bench/bench.py            # every stack, plus a 1,000-node custom density
    python bench/bench.py --repeat 3
    python bench/bench.py --only option-b --only custom-1000-nodes
    python bench/bench.py --engine   # also `pulumi preview` per stack and the rollout makespan

Each mock case runs in a fresh interpreter (imports included, as `pulumi up` pays them) and
reports wall seconds for the evaluation alone, the resources registered and the peak RSS.
Target stacks get their placeholders filled with tools/fills.py, as the tests fill them.
With --engine, the real Pulumi CLI from tests/engine/bin previews each stack against the
stand-in providers, and option-b and option-c roll out a new validator image with each
container create or delete taking ROLLOUT_SECONDS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# 1,000 logical nodes: 400 validators (80 x 5; f = 133), 400 business (100 x 4), 200 slim (100 x 2).
LARGE = {
    "density": "custom",
    "groups.validator.containers": 80,
    "groups.validator.nodes": 400,
    "groups.business.containers": 100,
    "groups.business.nodes": 400,
    "groups.slim.containers": 100,
    "groups.slim.nodes": 200,
}


# Seconds each stand-in container create or delete takes in the rollout measurement.
ROLLOUT_SECONDS = 1.0


def cases() -> dict[str, tuple[str, dict]]:
    from tools.fills import fills_for
    from tools.mockrun import stack_names

    out = {stack: (stack, fills_for(stack)) for stack in stack_names()}
    out["custom-1000-nodes"] = ("option-b", LARGE)
    return out


def run_case(name: str) -> dict:
    import_started = time.perf_counter()
    from tools.mockrun import run_program

    imported = time.perf_counter() - import_started
    known = cases()
    if name not in known:
        raise SystemExit(f"bench: no case {name!r}; cases: {', '.join(known)}")
    stack, overrides = known[name]
    started = time.perf_counter()
    run = run_program(stack, overrides)
    seconds = time.perf_counter() - started
    if run.error is not None:
        raise SystemExit(f"bench: {name}: {run.error}")
    nodes = len(run.outputs["nodes"])
    return {
        "case": name,
        "nodes": nodes,
        "resources": len(run.resources),
        "evaluate_s": round(seconds, 3),
        "import_s": round(imported, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_isolated(name: str) -> dict:
    """One case in a fresh interpreter; a failing case's own error is shown, not hidden."""
    proc = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: case {name} failed: {(proc.stderr or proc.stdout).strip()}")
    return json.loads(proc.stdout)


def engine_figures(repeat: int) -> None:
    import tempfile

    from tools.engine import EngineProject, find_engine_cli, nodes_per_container, timed_up
    from tools.fills import fills_for
    from tools.mockrun import stack_names

    cli, missing = find_engine_cli()
    if cli is None:
        raise SystemExit(f"bench: --engine needs {missing}")
    print(f"\n{'stack':<20} {'pulumi preview s':>17}")
    for stack in stack_names():
        best = None
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                project = EngineProject(Path(tmp), cli)
                project.init(stack, fills_for(stack))
                started = time.perf_counter()
                project.run("preview", "--stack", stack)
                seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
        print(f"{stack:<20} {best:>17.2f}")

    print(f"\nvalidator image rollout, {ROLLOUT_SECONDS:g} s per container create or delete:")
    print(f"{'stack':<20} {'waves':>6} {'max nodes down':>15} {'f':>3} {'makespan s':>11} {'lower bound s':>14}")
    for stack in ("option-b", "option-c"):
        with tempfile.TemporaryDirectory() as tmp:
            project = EngineProject(Path(tmp), cli)
            project.init(stack)
            project.up(stack)
            outputs = project.outputs(stack)
            nodes = nodes_per_container(outputs, "validator")
            project.set(stack, "groups.validator.image", "aurigraph/v11-native:11.0.1")
            rollout = timed_up(project, stack, nodes, ROLLOUT_SECONDS)
            waves = len(nodes)  # one validator container per wave in both layouts
            print(
                f"{stack:<20} {waves:>6} {rollout.most_nodes_down:>15} {outputs['faultBudget']:>3} "
                f"{rollout.makespan:>11.2f} {waves * 2 * ROLLOUT_SECONDS:>14.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    parser.add_argument("--engine", action="store_true", help="also measure through the real Pulumi CLI")
    parser.add_argument("--only", action="append", metavar="CASE", help="only this case (repeatable)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    unknown = sorted(set(args.only or ()) - set(cases()))
    if unknown:
        parser.error(f"no case {', '.join(unknown)}; cases: {', '.join(cases())}")
    print(f"{'case':<20} {'nodes':>6} {'resources':>10} {'evaluate s':>11} {'imports s':>10} {'peak RSS MB':>12}")
    for name in args.only or cases():
        best = min((run_isolated(name) for _ in range(args.repeat)), key=lambda r: r["evaluate_s"])
        print(
            f"{name:<20} {best['nodes']:>6} {best['resources']:>10} {best['evaluate_s']:>11} "
            f"{best['import_s']:>10} {best['peak_rss_mb']:>12}"
        )
    if args.engine:
        engine_figures(args.repeat)


if __name__ == "__main__":
    main()
