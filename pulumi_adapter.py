"""The one place that touches private parts of the Pulumi Python SDK.

The program needs every config value of its namespace (pulumi.Config can only look keys up,
and typos must be found), and the mock runner needs to drive the runtime as the language host
does. Both lean on SDK internals; tests/test_pulumi_adapter.py pins what is relied on, so an
SDK upgrade that changes it fails there, by name, rather than somewhere downstream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from model.problems import ConfigError

# How a secret travels in a registration's property struct.
SECRET_SIGNATURE_KEY: str = rpc._special_sig_key
SECRET_SIGNATURE: str = rpc._special_secret_sig


def all_config() -> dict[str, Any]:
    """Every config value the language host handed the program, by full key (`ns:key`)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def secret_keys(keys: Iterable[str]) -> frozenset[str]:
    """Which of these full keys the CLI marked secret."""
    return frozenset(k for k in keys if runtime_config.is_config_secret(k))


def namespace(project: str) -> tuple[dict[str, Any], frozenset[str], dict[str, Any]]:
    """This project's config (keys without the prefix), which of those are secret, and the other
    namespaces' values (`aws:region`, ...)."""
    prefix = f"{project}:"
    values = all_config()
    ours = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    others = {k: v for k, v in values.items() if not k.startswith(prefix)}
    return ours, frozenset(k[len(prefix) :] for k in secret_keys(prefix + k for k in ours)), others


def sync_await(awaitable: Awaitable[Any]) -> Any:
    return _sync_await(awaitable)


def install_test_engine(engine: Any) -> None:
    """Route the program's log calls to `engine` (the mocks install none that records)."""
    runtime_settings.SETTINGS.engine = engine


def fresh_root_stack() -> None:
    """Forget the root stack and pending work that `set_mocks` left, as a new language-host run starts."""
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()


def reset_options(project: str, stack: str, preview: bool) -> None:
    runtime_settings.reset_options(project=project, stack=stack, preview=preview)


class RefusedConfig(ConfigError, pulumi.RunError):
    """A ConfigError as the Pulumi runtime reports a RunError: its message, no traceback."""


def refused(error: ConfigError) -> RefusedConfig:
    return RefusedConfig(error.stack, list(error.problems))
