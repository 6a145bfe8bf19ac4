"""LoadBalancer: HAProxy in front of every API-serving logical node, with a stats page."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import containers as c
from .render.haproxy import API_PORT, STATS_PORT, render_haproxy_config
from .topology import Topology

CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"


@dataclass
class LoadBalancerArgs:
    placement: c.Placement
    image: str
    topology: Topology
    api_bind_address: str
    api_host_port: int
    admin_bind_address: str
    stats_host_port: int


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:LoadBalancer", name, None, opts)
        self.container = c.service_container(
            "haproxy", args.placement, args.image, self,
            # The image has bash but no curl: a TCP connect to the stats listener.
            health=f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{STATS_PORT}'",
            uploads=[c.upload(CONFIG_PATH, render_haproxy_config(args.topology))],
            ports=[c.published(API_PORT, args.api_bind_address, args.api_host_port),
                   c.published(STATS_PORT, args.admin_bind_address, args.stats_host_port)],
        )
        self.register_outputs({"apiHostPort": args.api_host_port, "statsHostPort": args.stats_host_port})
