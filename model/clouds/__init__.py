"""What the pure layers know of each cloud: its region and zone rules and its machine catalog.

One module per cloud (aws, azure, gcp), each defining `CLOUD`. The resources that build a VM
there live in components/hosts/<cloud>.py. Adding a cloud: a module here with its catalog, a
host module there, both registered by name, and a `Pulumi.<cloud>-option-b.yaml` stack file.
"""

from __future__ import annotations

from . import aws, azure, gcp
from .spec import CloudSpec, Size

CLOUDS: dict[str, CloudSpec] = {module.CLOUD.name: module.CLOUD for module in (aws, azure, gcp)}

__all__ = ["CLOUDS", "CloudSpec", "Size"]
