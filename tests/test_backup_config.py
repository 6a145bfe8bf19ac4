"""Backups as the program declares them, under mocks: the backup container and its wiring, the
backup alerts, the cloud snapshot policies, the AWS bucket, and the `backup.*` config errors."""

from __future__ import annotations

import json

import pytest
import yaml

from model.settings import ConfigError
from render.backup import BACKUP_ROLE, SCRIPT_PATH
from tests.helpers import CONTAINER, VOLUME, env
from tools.fills import FILLS, fills_for
from tools.mockrun import run_program

DLM = "aws:dlm/lifecyclePolicy:LifecyclePolicy"
GCP_POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"
AZURE_POLICY = "azure-native:dataprotection:BackupPolicy"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def run(stack: str, **overrides):
    result = run_program(stack, {**fills_for(stack), **overrides})
    assert result.error is None, result.error
    return result


def uploads(reg) -> dict[str, dict]:
    return {u["file"]: u for u in reg.inputs.get("uploads", [])}


def rules(result) -> dict[str, dict]:
    text = uploads(result.named("prometheus", CONTAINER))["/etc/prometheus/rules/aurigraph.yml"]["content"]
    return {r["alert"]: r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}


def test_the_backup_container_dumps_as_its_own_role_on_the_schedule_from_config():
    result = run("dev", **{"backup.interval": "2h", "backup.keep": 5, "backup.verify": "list"})
    backup = result.named("postgres-backup", CONTAINER)
    assert backup.inputs["entrypoints"] == [SCRIPT_PATH] and backup.inputs["command"] == ["run"]
    e = env(backup)
    assert e["AURIGRAPH_BACKUP_INTERVAL"] == "7200" and e["AURIGRAPH_BACKUP_KEEP"] == "5"
    assert e["AURIGRAPH_BACKUP_VERIFY"] == "list" and e["PGUSER"] == BACKUP_ROLE and e["PGHOST"] == "postgres"
    assert not any("PASSWORD" in k for k in e), "the password travels in the pgpass file only"
    pgpass = uploads(backup)["/etc/aurigraph/pgpass"]
    assert pgpass["permissions"] == "0600" and "uploads" in backup.secret_inputs
    # It uses the database's image (pg_dump of the server's version) and starts after it.
    postgres = result.named("postgres", CONTAINER)
    assert result.named("postgres-backup-image").inputs["name"] == result.named("postgres-image").inputs["name"]
    assert postgres.urn in backup.dependencies
    # The dumps go to a retained volume; the status to one node-exporter reads, read-only.
    mounts = {v["containerPath"]: v for v in backup.inputs["volumes"]}
    assert set(mounts) == {"/backups", "/status"}
    assert result.named("postgres-backup-data", VOLUME).retain_on_delete
    exporter = result.named("node-exporter", CONTAINER)
    assert "--collector.textfile.directory=/textfile" in exporter.inputs["command"]
    (textfile,) = [v for v in exporter.inputs["volumes"] if v.get("containerPath") == "/textfile"]
    assert textfile["readOnly"] is True and textfile["volumeName"] == mounts["/status"]["volumeName"]
    assert result.outputs["backup"]["container"] == "dev-postgres-backup"


def test_the_database_gets_a_backup_role_that_reads_but_cannot_write():
    roles = uploads(run("dev").named("postgres", CONTAINER))["/etc/aurigraph/roles.sql"]["content"]
    assert f"ALTER ROLE {BACKUP_ROLE} WITH LOGIN CREATEDB NOSUPERUSER" in roles
    assert f"GRANT pg_read_all_data TO {BACKUP_ROLE}" in roles and "pg_write_all_data" not in roles


def test_backup_alerts_follow_the_interval_or_max_age():
    assert rules(run("dev"))["AurigraphBackupTooOld"]["expr"].endswith("> 46800")  # 2 x 6 h + 1 h
    assert rules(run("dev", **{"backup.maxAge": "1d"}))["AurigraphBackupTooOld"]["expr"].endswith("> 86400")
    assert {"AurigraphBackupFailing", "AurigraphBackupStatusMissing"} <= set(rules(run("dev")))


def test_backups_off_removes_the_container_the_role_the_alerts_and_the_output():
    result = run("dev", **{"backup.enabled": False})
    assert not [r for r in result.resources if "postgres-backup" in r.name]
    assert "Backup" not in {r.type.split(":")[-1] for r in result.resources if not r.custom}
    assert BACKUP_ROLE not in uploads(result.named("postgres", CONTAINER))["/etc/aurigraph/roles.sql"]["content"]
    assert not any("textfile" in c for c in result.named("node-exporter", CONTAINER).inputs["command"])
    assert not [a for a in rules(result) if "Backup" in a]
    assert result.outputs.get("backup") is None  # None: not exported


def test_aws_snapshots_the_data_volume_on_a_schedule_with_retention():
    result = run("aws-option-b", **{"backup.snapshotEveryHours": 6, "backup.snapshotRetentionDays": 14})
    (policy,) = result.of_type(DLM)
    details = policy.inputs["policyDetails"]
    assert policy.inputs["state"] == "ENABLED" and details["resourceTypes"] == ["VOLUME"]
    assert details["targetTags"] == {"aurigraph:snapshots": "aws-option-b"}
    (schedule,) = details["schedules"]
    assert schedule["createRule"] == {"interval": 6, "intervalUnit": "HOURS", "times": "03:00"}
    assert schedule["retainRule"] == {"interval": 14, "intervalUnit": "DAYS"}
    assert schedule["copyTags"] is True
    # The policy selects the data volume, and only it, by tag.
    tagged = [r for r in result.of_type("aws:ebs/volume:Volume") if "aurigraph:snapshots" in r.inputs.get("tags", {})]
    assert [r.name for r in tagged] == ["aws-data"]
    role = result.named("aws-snapshot-role", "aws:iam/role:Role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "dlm.amazonaws.com"}
    # No bucket unless asked for.
    assert not [r for r in result.resources if r.type.startswith("aws:s3")]
    assert "iamInstanceProfile" not in result.named("aws-vm").inputs


def test_aws_bucket_is_private_versioned_expiring_and_write_only_for_the_host():
    result = run("aws-option-b", **{"backup.bucket": True, "backup.bucketRetentionDays": 14})
    by_type = {r.type: r for r in result.resources if r.type.startswith("aws:s3")}
    bucket = by_type["aws:s3/bucket:Bucket"]
    assert bucket.retain_on_delete and bucket.protect and bucket.inputs["forceDestroy"] is False
    block = by_type["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"].inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert by_type["aws:s3/bucketVersioning:BucketVersioning"].inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    (rule,) = by_type["aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"].inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": "aws-option-b/"}
    assert rule["expiration"] == {"days": 14} and rule["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    (sse,) = by_type["aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"].inputs[
        "rules"
    ]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert by_type["aws:s3/bucketOwnershipControls:BucketOwnershipControls"].inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    deny = json.loads(by_type["aws:s3/bucketPolicy:BucketPolicy"].inputs["policy"])["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    grants = json.loads(result.named("aws-backup-role", "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert sorted(s["Action"] for s in grants["Statement"]) == ["s3:ListBucket", "s3:PutObject"]
    # The host carries the role; IMDSv2 answers one hop only, so no container on the cluster network
    # reaches it: the uploader runs on the host's network.
    vm = result.named("aws-vm").inputs
    assert vm["iamInstanceProfile"] == "aws-backup-role" and vm["metadataOptions"] == {
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    uploader = result.named("backup-uploader", CONTAINER)
    assert uploader.inputs["networkMode"] == "host" and "networksAdvanced" not in uploader.inputs
    assert env(uploader)["AURIGRAPH_BACKUP_BUCKET_URL"].endswith("/aws-option-b/")
    backups = next(v for v in uploader.inputs["volumes"] if v["containerPath"] == "/backups")
    assert backups["readOnly"] is True
    assert {"AurigraphBackupUploadFailing", "AurigraphBackupUploadTooOld"} <= set(rules(result))
    assert result.outputs["backup"]["bucket"].startswith("s3://")


@pytest.mark.parametrize(
    "hours, schedule",
    [
        (24, {"dailySchedule": {"daysInCycle": 1, "startTime": "03:00"}}),
        (4, {"hourlySchedule": {"hoursInCycle": 4, "startTime": "03:00"}}),
    ],
)
def test_gcp_attaches_a_snapshot_schedule_to_the_data_disk(hours, schedule):
    result = run("gcp-option-b", **{"backup.snapshotEveryHours": hours, "backup.snapshotRetentionDays": 10})
    (policy,) = result.of_type(GCP_POLICY)
    snap = policy.inputs["snapshotSchedulePolicy"]
    assert snap["schedule"] == schedule
    assert snap["retentionPolicy"] == {"maxRetentionDays": 10, "onSourceDiskDelete": "KEEP_AUTO_SNAPSHOTS"}
    assert snap["snapshotProperties"]["storageLocations"] == policy.inputs["region"]
    attachment = result.named("gcp-snapshots", "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment")
    disk = result.named("gcp-data", "gcp:compute/disk:Disk")
    assert attachment.inputs == {
        "name": "gcp-snapshots",
        "disk": "gcp-data",
        "zone": disk.inputs["zone"],
        "project": disk.inputs["project"],
    }


@pytest.mark.parametrize("hours, every", [(24, "P1D"), (4, "PT4H")])
def test_azure_enrolls_the_data_disk_in_disk_backup(hours, every):
    result = run("azure-option-b", **{"backup.snapshotEveryHours": hours, "backup.snapshotRetentionDays": 5})
    (policy,) = result.of_type(AZURE_POLICY)
    props = policy.inputs["properties"]
    assert props["datasourceTypes"] == ["Microsoft.Compute/disks"]
    backup_rule, retention = props["policyRules"]
    assert backup_rule["trigger"]["schedule"]["repeatingTimeIntervals"] == [f"R/2026-01-01T03:00:00+00:00/{every}"]
    assert backup_rule["backupParameters"]["backupType"] == "Incremental"
    assert retention["lifecycles"][0]["deleteAfter"]["duration"] == "P5D"
    vault = result.of_type("azure-native:dataprotection:BackupVault")[0]
    assert vault.inputs["identity"] == {"type": "SystemAssigned"}
    roles = sorted(r.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for r in result.of_type(ROLE_ASSIGNMENT))
    assert roles == ["3e5e47e6-65f7-47ef-90b5-e5dd4d455f24", "7efff54f-a5b4-42b5-a1c5-5411624893ce"]
    instance = result.of_type("azure-native:dataprotection:BackupInstance")[0]
    source = instance.inputs["properties"]["dataSourceInfo"]
    assert source["resourceID"] == "azure-data-id" and source["datasourceType"] == "Microsoft.Compute/disks"
    assert all(r.inputs["principalId"] == f"{vault.name}-principal" for r in result.of_type(ROLE_ASSIGNMENT))
    assert {r.inputs["scope"] for r in result.of_type(ROLE_ASSIGNMENT)} == {"azure-data-id", "azure-rg-id"}
    assert all(r.urn in instance.dependencies for r in result.of_type(ROLE_ASSIGNMENT)), (
        "enrolling the disk must wait for the vault's permissions"
    )


BAD = [
    # (id, stack, overrides, the key named, a fragment of what was expected)
    ("bucket off aws", "gcp-option-b", {"backup.bucket": True}, "backup.bucket", "only supported with target aws"),
    (
        "bucket without backups",
        "aws-option-b",
        {"backup.bucket": True, "backup.enabled": False},
        "backup.bucket",
        "needs backup.enabled",
    ),
    (
        "max age within the interval",
        "dev",
        {"backup.interval": "6h", "backup.maxAge": "6h"},
        "backup.maxAge",
        "more than backup.interval (6h)",
    ),
    ("interval too short", "dev", {"backup.interval": "30s"}, "backup.interval", "from 5m to 7d"),
    ("interval not a duration", "dev", {"backup.interval": "daily"}, "backup.interval", "a Prometheus duration"),
    ("keep zero", "dev", {"backup.keep": 0}, "backup.keep", "from 1 to 1000"),
    ("unknown verification", "dev", {"backup.verify": "trust"}, "backup.verify", "one of restore, list"),
    (
        "snapshot interval no scheduler takes",
        "aws-option-b",
        {"backup.snapshotEveryHours": 5},
        "backup.snapshotEveryHours",
        "one of 1, 2, 4, 6, 8, 12, 24",
    ),
    (
        "more snapshots than Azure keeps",
        "azure-option-b",
        {"backup.snapshotEveryHours": 1, "backup.snapshotRetentionDays": 30},
        "backup.snapshotRetentionDays",
        "at most 450 snapshots",
    ),
    ("typo in a backup key", "dev", {"backup.intervall": "1h"}, "backup.intervall", "did you mean 'interval'"),
]


@pytest.mark.parametrize("stack, overrides, key, expected", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_backup_config_fails_naming_the_key(stack, overrides, key, expected):
    result = run_program(stack, {**FILLS.get(stack.split("-")[0], {}), **overrides})
    assert isinstance(result.error, ConfigError), result.error
    message = str(result.error)
    assert f"'{key}'" in message and f"stack '{stack}'" in message and expected in message, message
    assert "\n" not in message and result.resources == []


def test_the_capacity_plan_counts_only_the_backup_containers_that_run():
    def cpus(stack, **overrides):
        return run(stack, **overrides).outputs["capacity"]["containerCpus"]

    assert cpus("dev") - cpus("dev", **{"backup.enabled": False}) == 0.5
    assert cpus("aws-option-b", **{"backup.bucket": True}) - cpus("aws-option-b") == 0.25


def test_the_backup_containers_are_healthy_once_their_status_file_is_written():
    from components.backup import BACKUP, STATUS_PATH, UPLOADER
    from render.backup import STATUS_FILE, UPLOAD_STATUS_FILE

    assert BACKUP.health == f"test -s {STATUS_PATH}/{STATUS_FILE}"
    assert UPLOADER.health == f"test -s {STATUS_PATH}/{UPLOAD_STATUS_FILE}"
