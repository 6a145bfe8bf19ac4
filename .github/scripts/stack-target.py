"""Print `target=<target>` for a stack's file, for a workflow step's GITHUB_OUTPUT.

Refuses (exit 1, one line) a stack whose target is `local`: on a CI runner that would deploy
the cluster onto the runner's own Docker daemon, which is gone when the job ends.
"""

import sys
from pathlib import Path

import yaml

stack = sys.argv[1]
path = Path(f"Pulumi.{stack}.yaml")
if not path.exists():
    sys.exit(f"no stack file {path} for stack {stack}")
config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
target = config.get("aurigraph-cluster:target", "local")
if target == "local":
    sys.exit(
        f"stack {stack} has target local: CI would deploy onto the runner's own Docker daemon; "
        "deploy it from the machine that runs it, or give it an ssh or cloud target"
    )
print(f"target={target}")
