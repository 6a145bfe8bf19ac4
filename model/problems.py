"""What a refused config says: each problem names its key, and all of them make one line."""

from __future__ import annotations

import json
from dataclasses import dataclass

PROJECT = "aurigraph-cluster"


@dataclass(frozen=True)
class Problem:
    key: str
    message: str


def _key_text(key: str) -> str:
    """A key as the error shows it: control characters escaped, so the message stays one line."""
    return key if key.isprintable() else json.dumps(key)[1:-1]


class ConfigError(Exception):
    """Invalid stack configuration: one line naming every offending key. The program's edge
    (pulumi_adapter.refuse) turns it into a pulumi.RunError, which `pulumi up` prints without a
    Python traceback."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = tuple(problems)
        detail = "; ".join(f"'{_key_text(p.key)}': {p.message}" for p in problems)
        super().__init__(f"invalid configuration for stack '{_key_text(stack)}' ({PROJECT}): {detail}")
