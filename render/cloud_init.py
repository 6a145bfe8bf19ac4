"""cloud-init for a cluster VM: Docker from Debian, the operator's key, the pinned SSH host key,
and the data disk at /var/lib/docker."""

from __future__ import annotations

import json

import yaml

DOCKER_DATA = "/var/lib/docker"
DATA_LABEL = "aurigraph"
DATA_DISK_SCRIPT = "/usr/local/sbin/aurigraph-data-disk"

# Container logs rotate, so a chatty node cannot fill the disk (each container also sets its own).
DAEMON_JSON = {"log-driver": "json-file", "log-opts": {"max-size": "50m", "max-file": "5"}, "live-restore": True}
SYSCTL = "vm.max_map_count = 262144\nnet.core.somaxconn = 4096\nfs.file-max = 1048576\n"

# The data disk is a resource of its own, attached possibly after boot (and again to a
# replacement VM), so it is set up by this script, not at boot: wait for it, format it only
# if it holds no filesystem (or partition table) yet, mount it at /var/lib/docker, then start
# Docker on it.
DATA_DISK = f"""#!/bin/sh
set -eu
device="$1"
for attempt in $(seq 1 180); do [ -b "$device" ] && break; sleep 5; done
[ -b "$device" ] || {{ echo "data disk $device did not appear within 15 minutes" >&2; exit 1; }}
systemctl stop docker.socket docker 2>/dev/null || true
blkid "$device" >/dev/null 2>&1 || mkfs.ext4 -q -L {DATA_LABEL} "$device"
mkdir -p {DOCKER_DATA}
grep -q "^LABEL={DATA_LABEL} " /etc/fstab || echo "LABEL={DATA_LABEL} {DOCKER_DATA} ext4 defaults,nofail 0 2" >> /etc/fstab
mountpoint -q {DOCKER_DATA} || mount {DOCKER_DATA}
systemctl enable --now docker
"""


# Containers never reach the cloud's metadata service (it serves the instance's credentials and,
# on GCP, this cloud-init with the SSH host's private key): Docker's DOCKER-USER chain drops
# their traffic to it, every time Docker starts. A container that needs it (the S3 uploader)
# runs on the host's network instead, where this does not apply, and needs one hop only.
METADATA_GUARD = "aurigraph-metadata-guard.service"
METADATA_ADDRESSES = (("iptables", "169.254.169.254/32"), ("ip6tables", "fd00:ec2::254/128"))
METADATA_GUARD_UNIT = (
    """[Unit]
Description=Keep containers away from the cloud metadata service
After=docker.service
Requires=docker.service
PartOf=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
"""
    + "".join(
        f"ExecStart=/bin/sh -c '{tool} -C DOCKER-USER -d {address} -j DROP 2>/dev/null || "
        f"{tool} -I DOCKER-USER -d {address} -j DROP'\n"
        for tool, address in METADATA_ADDRESSES
    )
    + """
[Install]
WantedBy=docker.service
"""
)


def render_cloud_init(ssh_user: str, ssh_public_key: str, data_device: str, host_key: tuple[str, str]) -> str:
    """`data_device`: the data disk's stable path on that cloud. `host_key`: (private key file,
    public key line), the only SSH host key the VM will have."""
    private, public = host_key
    doc = {
        # The group exists before the user is created, so the user can be put in it.
        "groups": ["docker"],
        "users": [
            {
                "name": ssh_user,
                "groups": ["docker"],
                "shell": "/bin/bash",
                "lock_passwd": True,
                "ssh_authorized_keys": [ssh_public_key],
            }
        ],
        "ssh_pwauth": False,
        "disable_root": True,
        # The host key the program pins. With ssh_keys given, cloud-init generates no other.
        "ssh_deletekeys": True,
        "ssh_keys": {"ed25519_private": private, "ed25519_public": public},
        "package_update": True,
        "packages": ["docker.io", "ca-certificates", "curl"],
        "write_files": [
            {
                "path": "/etc/docker/daemon.json",
                "permissions": "0644",
                "content": json.dumps(DAEMON_JSON, indent=2) + "\n",
            },
            {"path": "/etc/sysctl.d/90-aurigraph.conf", "permissions": "0644", "content": SYSCTL},
            {"path": DATA_DISK_SCRIPT, "permissions": "0755", "content": DATA_DISK},
            {"path": f"/etc/systemd/system/{METADATA_GUARD}", "permissions": "0644", "content": METADATA_GUARD_UNIT},
        ],
        "runcmd": [
            ["sysctl", "--system"],
            [DATA_DISK_SCRIPT, data_device],
            ["systemctl", "enable", "--now", METADATA_GUARD],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


# Run over SSH once the VM answers: done when cloud-init has finished and Docker answers with
# its data on the data disk (never on the boot disk).
WAIT_FOR_DOCKER = (
    "cloud-init status --wait >/dev/null 2>&1 || true; "
    f"for attempt in $(seq 1 120); do mountpoint -q {DOCKER_DATA} && docker info >/dev/null 2>&1 && exit 0; "
    "sleep 5; done; "
    f"echo 'docker did not answer on the data disk ({DOCKER_DATA}) within 10 minutes of cloud-init finishing' >&2; "
    "exit 1"
)
