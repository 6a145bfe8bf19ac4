"""LoadBalancer: HAProxy in front of every API-serving logical node, with a stats page."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.services import service
from model.topology import Topology
from render.haproxy import render_haproxy_config

from . import containers as c

CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
HAPROXY = service("haproxy")


@dataclass
class LoadBalancerArgs:
    placement: c.Placement
    topology: Topology


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:LoadBalancer", name, None, opts)
        self.container = c.service_container(
            name,
            HAPROXY,
            args.placement,
            self,
            uploads=[c.upload(CONFIG_PATH, render_haproxy_config(args.topology))],
        )
        ports = args.placement.ports
        self.register_outputs({"apiHostPort": ports["api"], "statsHostPort": ports["haproxyStats"]})
