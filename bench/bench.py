"""How long the program takes to evaluate under mocks, and how much it registers.

    python bench/bench.py            # every stack, plus a 1,000-node custom density
    python bench/bench.py --repeat 3

Each case runs in a fresh interpreter (imports included, as `pulumi up` pays them) and
reports wall seconds for the evaluation alone, the resources registered and the peak RSS.
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
    "groups.validator.containers": 80, "groups.validator.nodes": 400,
    "groups.business.containers": 100, "groups.business.nodes": 400,
    "groups.slim.containers": 100, "groups.slim.nodes": 200,
}


def cases() -> dict[str, tuple[str, dict]]:
    from tools.mockrun import stack_names

    out = {stack: (stack, {}) for stack in stack_names()}
    out["custom-1000-nodes"] = ("option-b", LARGE)
    return out


def run_case(name: str) -> dict:
    import_started = time.perf_counter()
    from tools.mockrun import run_program

    imported = time.perf_counter() - import_started
    stack, overrides = cases()[name]
    started = time.perf_counter()
    run = run_program(stack, overrides)
    seconds = time.perf_counter() - started
    if run.error is not None:
        raise SystemExit(f"{name}: {run.error}")
    nodes = len(run.outputs["nodes"])
    return {"case": name, "nodes": nodes, "resources": len(run.resources), "evaluate_s": round(seconds, 3),
            "import_s": round(imported, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    print(f"{'case':<20} {'nodes':>6} {'resources':>10} {'evaluate s':>11} {'imports s':>10} {'peak RSS MB':>12}")
    for name in cases():
        results = [json.loads(subprocess.run([sys.executable, __file__, "--case", name], check=True,
                                             capture_output=True, text=True).stdout)
                   for _ in range(args.repeat)]
        best = min(results, key=lambda r: r["evaluate_s"])
        print(f"{name:<20} {best['nodes']:>6} {best['resources']:>10} {best['evaluate_s']:>11} "
              f"{best['import_s']:>10} {best['peak_rss_mb']:>12}")


if __name__ == "__main__":
    main()
