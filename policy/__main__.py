"""CrossGuard pack for the Aurigraph cluster: `pulumi preview --policy-pack policy`."""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from rules import POLICIES, STACK_POLICIES

CONFIG = {
    "admin-ui-not-public": PolicyConfigSchema(properties={"allowPublicAdminUi": {"type": "boolean", "default": False}}),
    "data-volume-protected": PolicyConfigSchema(
        properties={"requireProtectedData": {"type": "boolean", "default": True}}
    ),
}

PolicyPack(
    name="aurigraph-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name=name, description=description, validate=validate, config_schema=CONFIG.get(name))
        for name, description, validate in POLICIES
    ]
    + [
        StackValidationPolicy(name=name, description=description, validate=validate)
        for name, description, validate in STACK_POLICIES
    ],
)
