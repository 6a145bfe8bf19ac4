"""Backup: verified pg_dump backups of the application database on a retained volume, and on
target aws with backup.bucket a copy in the stack's S3 bucket.

Their status (age, size, failures) is a file node-exporter's textfile collector reads, on a
small volume of its own: node-exporter never sees the backups themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from model.config import BackupConfig
from model.services import DATABASE, service
from render.backup import BACKUP_ROLE, BACKUP_SCRIPT, SCRIPT_PATH, UPLOAD_SCRIPT, pgpass_line

from . import containers as c

BACKUP = service("postgres-backup")
UPLOADER = service("backup-uploader")
POSTGRES = service("postgres")
STATUS_PATH = "/status"
if BACKUP.data_path is None:
    raise RuntimeError("the registry gives postgres-backup no data path")  # model/services.py
BACKUP_DIR: str = BACKUP.data_path
PGPASS = "/etc/aurigraph/pgpass"
UPLOAD_PATH = "/usr/local/bin/aurigraph-backup-upload"


@dataclass(frozen=True)
class Bucket:
    """Where the uploader copies the backups: `s3://bucket/prefix/`, and the bucket's region."""

    url: pulumi.Input[str]
    region: str


@dataclass
class BackupArgs:
    placement: c.Placement
    backup: BackupConfig
    password: pulumi.Input[str]  # the backup role's (secret)
    database: docker.Container
    bucket: Bucket | None = None


class Backup(pulumi.ComponentResource):
    status_volume: pulumi.Output[str]

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:index:Backup", name, None, opts)
        b, placement = args.backup, args.placement
        # Kept like every volume: the status holds when the last verified backup was taken.
        self.status_volume = c.data_volume(
            f"{name}-status",
            f"{placement.stack}-{BACKUP.name}-status",
            c.service_labels(placement, BACKUP.name),
            protect=placement.protect_data,
            parent=self,
        ).name
        status = docker.ContainerVolumeArgs(volume_name=self.status_volume, container_path=STATUS_PATH)
        backups = c.service_volume(f"{name}-data", BACKUP, placement, self)
        schedule = {
            "AURIGRAPH_BACKUP_DIR": BACKUP_DIR,
            "AURIGRAPH_BACKUP_STATUS_DIR": STATUS_PATH,
            "AURIGRAPH_BACKUP_INTERVAL": str(b.interval_seconds),
        }
        line: pulumi.Output[str] = pulumi.Output.from_input(args.password).apply(
            lambda pw: pgpass_line(POSTGRES.name, POSTGRES.port, pw)
        )
        pgpass: pulumi.Output[str] = pulumi.Output.secret(line)
        self.container = c.service_container(
            name,
            BACKUP,
            placement,
            self,
            env={
                **schedule,
                "AURIGRAPH_BACKUP_KEEP": str(b.keep),
                "AURIGRAPH_BACKUP_VERIFY": b.verify,
                "PGHOST": POSTGRES.name,
                "PGPORT": str(POSTGRES.port),
                "PGUSER": BACKUP_ROLE,
                "PGDATABASE": DATABASE,
                "PGPASSFILE": PGPASS,
            },
            entrypoints=[SCRIPT_PATH],
            command=["run"],
            uploads=[
                c.upload(SCRIPT_PATH, BACKUP_SCRIPT, executable=True),
                docker.ContainerUploadArgs(file=PGPASS, content=pgpass, permissions="0600"),
            ],
            volumes=[backups, status],
            depends_on=[args.database],
        )
        outputs = {"container": self.container.name, "volume": backups.volume_name}
        if args.bucket is not None:
            self.uploader = c.service_container(
                UPLOADER.name,
                UPLOADER,
                placement,
                self,
                env={
                    **schedule,
                    "AURIGRAPH_BACKUP_BUCKET_URL": args.bucket.url,
                    "AWS_DEFAULT_REGION": args.bucket.region,
                },
                entrypoints=[UPLOAD_PATH],
                uploads=[c.upload(UPLOAD_PATH, UPLOAD_SCRIPT, executable=True)],
                # The instance profile's credentials come from the metadata service, which only the
                # host's network reaches (one hop; containers on the cluster network are dropped).
                host_network=True,
                volumes=[
                    docker.ContainerVolumeArgs(
                        volume_name=backups.volume_name, container_path=BACKUP.data_path, read_only=True
                    ),
                    status,
                ],
                depends_on=[self.container],
            )
            outputs["bucket"] = args.bucket.url
        self.register_outputs(outputs)
