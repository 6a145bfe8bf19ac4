"""Tracing: Jaeger all-in-one, receiving OTLP from the nodes, its UI on the admin address."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import containers as c
from .topology import JAEGER_HOST

UI_PORT = 16686
ADMIN_PORT = 14269  # health and metrics


@dataclass
class TracingArgs:
    placement: c.Placement
    image: str
    admin_bind_address: str
    ui_host_port: int


class Tracing(pulumi.ComponentResource):
    def __init__(self, name: str, args: TracingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Tracing", name, None, opts)
        self.container = c.service_container(
            JAEGER_HOST, args.placement, args.image, self,
            health=f"wget -q -O /dev/null http://127.0.0.1:{ADMIN_PORT}/",
            env={"COLLECTOR_OTLP_ENABLED": "true", "SPAN_STORAGE_TYPE": "memory"},
            # In-memory storage, bounded: traces are for debugging the last minutes, not for keeping.
            command=["--memory.max-traces=50000"],
            ports=[c.published(UI_PORT, args.admin_bind_address, args.ui_host_port)],
        )
        self.register_outputs({"host": JAEGER_HOST})
