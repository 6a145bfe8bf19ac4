"""Tracing: Jaeger all-in-one, receiving OTLP from the nodes, its UI on the admin address."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.services import service

from . import containers as c

JAEGER = service("jaeger")


@dataclass
class TracingArgs:
    placement: c.Placement


class Tracing(pulumi.ComponentResource):
    def __init__(self, name: str, args: TracingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Tracing", name, None, opts)
        self.container = c.service_container(
            name,
            JAEGER,
            args.placement,
            self,
            env={"COLLECTOR_OTLP_ENABLED": "true", "SPAN_STORAGE_TYPE": "memory"},
            # In-memory storage, bounded: traces are for debugging the last minutes, not for keeping.
            command=["--memory.max-traces=50000"],
        )
        self.register_outputs({"host": JAEGER.name})
