"""haproxy.cfg: the node API frontend over every API-serving logical node, plus a stats page.

Written for HAProxy 2.6 (LTS; the deployed image and Debian's `haproxy -c` in tests).
"""

from __future__ import annotations

from collections.abc import Callable

from model.services import service
from model.topology import HEALTH_PATH, LogicalNode, Topology

from .prometheus import dns_address

# Groups whose nodes serve /api/v11 behind the frontend: the business tier. Validators keep
# public traffic off the consensus path (and a validator layout change leaves HAProxy alone);
# slim nodes are archives.
API_GROUPS = ("business",)

# Inside the HAProxy container: the ports the registry publishes as `api` and `haproxyStats`.
_PORTS = {p.key: p.port for p in service("haproxy").published}
API_PORT = _PORTS["api"]
STATS_PORT = _PORTS["haproxyStats"]
API_BACKEND = "aurigraph_api"


def api_nodes(topology: Topology) -> list[LogicalNode]:
    return [n for g in topology.groups if g.name in API_GROUPS for n in g.nodes]


def render_haproxy_config(
    topology: Topology,
    *,
    address: Callable[[LogicalNode], str] = dns_address,
    bind_host: str = "",
    api_port: int = API_PORT,
    stats_port: int = STATS_PORT,
    docker_dns: bool = True,
) -> str:
    """`docker_dns`: resolve backends through Docker's embedded DNS at run time, so HAProxy
    starts (and keeps running) while a node container is being replaced."""
    server_defaults = "check inter 5s fall 3 rise 2"
    if docker_dns:
        server_defaults += " resolvers docker init-addr none"
    lines = [
        "global",
        "    log stdout format raw local0 info",
        # Each connection takes two file descriptors: 8192 fits the common 20k-32k nofile limits
        # (20000 made HAProxy refuse to start, wanting 40020).
        "    maxconn 8192",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlognull",
        "    option redispatch",
        "    retries 2",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        f"    default-server {server_defaults}",
        "",
    ]
    if docker_dns:
        lines += [
            "resolvers docker",
            "    nameserver dns 127.0.0.11:53",
            "    resolve_retries 3",
            "    timeout resolve 1s",
            "    timeout retry 1s",
            "    hold valid 10s",
            "    hold obsolete 30s",
            "",
        ]
    lines += [
        "frontend api",
        f"    bind {bind_host}:{api_port}",
        f"    default_backend {API_BACKEND}",
        "",
        "frontend stats",
        f"    bind {bind_host}:{stats_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 10s",
        "    stats show-legends",
        "",
        f"backend {API_BACKEND}",
        "    balance roundrobin",
        f"    option httpchk GET {HEALTH_PATH}",
        "    http-check expect status 200",
    ]
    lines += [f"    server {n.name} {address(n)}" for n in api_nodes(topology)]
    return "\n".join(lines) + "\n"
