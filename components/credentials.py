"""Passwords: the operator's (set with `pulumi config set --secret`) or generated, always secret."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_random as random

PASSWORD_LENGTH = 32


def password(resource_name: str, configured: Optional[pulumi.Output[str]], parent: pulumi.Resource) -> pulumi.Output[str]:
    if configured is not None:
        return pulumi.Output.secret(configured)
    # Letters and digits only: the value lands in SQL, redis.conf and env without any quoting.
    generated = random.RandomPassword(resource_name, length=PASSWORD_LENGTH, special=False,
                                      opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)
