"""What the pure layers know of each cloud: its region and zone rules and its machine catalog.

One module per cloud (aws, azure, gcp), each defining `CLOUD`, found by listing this package
(CLOUDS is in name order). The resources that build a VM there live in
components/hosts/<cloud>.py. Adding a cloud: see the README's recipe.
"""

from __future__ import annotations

import importlib
import pkgutil

from .spec import CloudSpec, Size


def _discovered() -> dict[str, CloudSpec]:
    """Every module of this package but spec.py is a cloud and defines CLOUD."""
    modules = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    return {m.CLOUD.name: m.CLOUD for m in modules if m.__name__ != f"{__name__}.spec"}


CLOUDS: dict[str, CloudSpec] = _discovered()

__all__ = ["CLOUDS", "CloudSpec", "Size"]
