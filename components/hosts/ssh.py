"""An existing server over SSH, as the spec ran it: the docker provider at ssh://user@host:port."""

from __future__ import annotations

from model.planning import Plan
from model.settings import Settings

from . import Host, remote_docker, ssh_url


def create(settings: Settings, plan: Plan) -> Host:
    ssh = settings.ssh
    provider = remote_docker("docker-ssh", ssh.host, ssh.user, ssh.port, ssh.ssh_opts)
    return Host(provider=provider, address=ssh.host, docker_host=ssh_url(ssh.user, ssh.host, ssh.port))
