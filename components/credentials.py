"""Passwords: the operator's (set with `pulumi config set --secret`) or generated, always secret."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_random as random

PASSWORD_LENGTH = 32


def password(
    resource_name: str, configured: str | None, parent: pulumi.Resource, aliases: Sequence[pulumi.Alias] = ()
) -> pulumi.Output[str]:
    if configured is not None:
        return pulumi.Output.secret(configured)
    # Letters and digits only: the value lands in SQL, redis.conf and env without any quoting.
    generated = random.RandomPassword(
        resource_name,
        length=PASSWORD_LENGTH,
        special=False,
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )
    return pulumi.Output.secret(generated.result)
