"""What pulumi_adapter relies on in the Pulumi SDK's private parts, pinned: an SDK upgrade that
changes any of it fails here, by name."""

from __future__ import annotations

import pulumi

import pulumi_adapter as sdk


def test_the_whole_config_map_and_its_secret_keys_are_readable():
    pulumi.runtime.set_all_config(
        {"aurigraph-cluster:density": "option-b", "aurigraph-cluster:dbPassword": "x" * 12, "aws:region": "eu-west-1"},
        ["aurigraph-cluster:dbPassword"],
    )
    try:
        ours, secret, others = sdk.namespace("aurigraph-cluster")
        assert ours == {"density": "option-b", "dbPassword": "x" * 12}
        assert secret == frozenset({"dbPassword"})
        assert others == {"aws:region": "eu-west-1"}
    finally:
        pulumi.runtime.set_all_config({}, [])


def test_the_secret_signature_is_the_wire_protocols():
    """The engine's own constants (sdk/go/common/resource/sig): how a secret travels in a struct."""
    assert sdk.SECRET_SIGNATURE_KEY == "4dabf18193072939515e22adb298388d"
    assert sdk.SECRET_SIGNATURE == "1b47061264138c4ac30d75fd1eb44270"


def test_sync_await_runs_a_coroutine_to_completion():
    async def answer():
        return 42

    assert sdk.sync_await(answer()) == 42


def test_the_runtime_state_the_mock_runner_resets_exists():
    from pulumi.runtime import settings

    assert hasattr(settings, "ROOT") and hasattr(settings.ROOT, "set")
    assert hasattr(settings.SETTINGS, "rpc_manager") and hasattr(settings.SETTINGS.rpc_manager, "clear")
    assert hasattr(settings.SETTINGS, "outputs") and hasattr(settings.SETTINGS, "engine")
    assert callable(settings.reset_options)
