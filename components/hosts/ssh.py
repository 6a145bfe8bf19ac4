"""An existing server over SSH, as the spec ran it: the docker provider at ssh://user@host:port.

Host keys are always checked: with `ssh.hostKey` only that key is accepted; without it, the
operator's known_hosts must already hold the server's key. The program's options come first,
and ssh keeps the first value of each, so `ssh.sshOpts` cannot loosen them.
"""

from __future__ import annotations

from model.planning import Plan
from model.settings import Settings
from render.host_key import known_hosts_options

from . import Host, remote_docker, ssh_url


def create(settings: Settings, plan: Plan) -> Host:
    ssh = settings.ssh
    if ssh is None:  # parse_settings refuses target ssh without it
        raise ValueError("target ssh needs the ssh settings")
    trust = known_hosts_options(ssh.host_key) if ssh.host_key else ["-o", "StrictHostKeyChecking=yes"]
    provider = remote_docker("docker-ssh", ssh.host, ssh.user, ssh.port, trust + list(ssh.ssh_opts))
    return Host(provider=provider, address=ssh.host, docker_host=ssh_url(ssh.user, ssh.host, ssh.port))
