"""The local Docker daemon: the provider reads DOCKER_HOST itself, else the local socket."""

from __future__ import annotations

import pulumi_docker as docker

from model.planning import Plan
from model.settings import Settings

from . import Host


def create(settings: Settings, plan: Plan) -> Host:
    # No `host` argument: the provider then honours DOCKER_HOST (and DOCKER_CERT_PATH etc.)
    # exactly as the docker CLI does, falling back to unix:///var/run/docker.sock.
    provider = docker.Provider("docker-local")
    return Host(provider=provider, address="127.0.0.1")
