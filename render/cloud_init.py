"""cloud-init for a cluster VM: Docker from Debian, the operator's key, the data disk at /var/lib/docker."""

from __future__ import annotations

import json

import yaml

DOCKER_DATA = "/var/lib/docker"
DATA_LABEL = "aurigraph"

# Container logs rotate, so a chatty node cannot fill the disk.
DAEMON_JSON = {"log-driver": "json-file", "log-opts": {"max-size": "50m", "max-file": "5"}, "live-restore": True}
SYSCTL = "vm.max_map_count = 262144\nnet.core.somaxconn = 4096\nfs.file-max = 1048576\n"


def render_cloud_init(ssh_user: str, ssh_public_key: str, data_device: str) -> str:
    """`data_device`: where the cloud attaches the data disk (its stable path on that cloud)."""
    doc = {
        # The group exists before the user is created, so the user can be put in it.
        "groups": ["docker"],
        "users": [{
            "name": ssh_user,
            "groups": ["docker"],
            "shell": "/bin/bash",
            "lock_passwd": True,
            "ssh_authorized_keys": [ssh_public_key],
        }],
        "ssh_pwauth": False,
        "disable_root": True,
        # The data disk holds Docker's images, containers and volumes; formatted once, never again.
        "disk_setup": {data_device: {"table_type": "gpt", "layout": True, "overwrite": False}},
        "fs_setup": [{"label": DATA_LABEL, "filesystem": "ext4", "device": data_device, "partition": "auto",
                      "overwrite": False}],
        "mounts": [[f"LABEL={DATA_LABEL}", DOCKER_DATA, "ext4", "defaults,nofail", "0", "2"]],
        "package_update": True,
        "packages": ["docker.io", "ca-certificates", "curl"],
        "write_files": [
            {"path": "/etc/docker/daemon.json", "permissions": "0644", "content": json.dumps(DAEMON_JSON, indent=2) + "\n"},
            {"path": "/etc/sysctl.d/90-aurigraph.conf", "permissions": "0644", "content": SYSCTL},
        ],
        "runcmd": [["sysctl", "--system"], ["systemctl", "enable", "--now", "docker"]],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


# Run over SSH once the VM answers: done when cloud-init has finished and Docker answers.
WAIT_FOR_DOCKER = (
    "cloud-init status --wait >/dev/null 2>&1 || true; "
    "for attempt in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 5; done; "
    "echo 'docker did not answer within 10 minutes of cloud-init finishing' >&2; exit 1"
)
