"""PostgreSQL backups and the restore drill, on a real PostgreSQL 16 (pgserver).

The backup container's real script runs here against the server, as the real backup role
(with its real grants and a pgpass file, over TCP with scram-sha-256). The restore drill runs
through its CLI; only `docker exec` is replaced, by running the same commands on this machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from render.backup import (
    BACKUP_ROLE,
    BACKUP_SCRIPT,
    FAILURES,
    KEPT,
    LAST_SUCCESS,
    STATUS_FILE,
    UPLOAD_FAILURES,
    UPLOAD_LAST_SUCCESS,
    UPLOAD_SCRIPT,
    UPLOAD_STATUS_FILE,
    pgpass_line,
    render_backup_role,
)
from render.datastores import render_postgres_init, render_postgres_roles
from render.prometheus import render_alert_rules
from tests.helpers import require_tool
from tests.pg import Postgres16, postgres16
from tools import drill, restore
from tools.kubectl import Kubectl

APP, APP_PASSWORD = "aurigraph", "app-password-1234"
METRICS, METRICS_PASSWORD = "aurigraph_metrics", "metrics-password-1234"
BACKUP_PASSWORD = "backup:pa\\ss'word"  # ':' and '\' must survive the pgpass file, the quote the SQL

LEDGER = """
CREATE TABLE blocks (height bigint PRIMARY KEY, hash text NOT NULL);
CREATE TABLE accounts (id serial PRIMARY KEY, owner text, balance numeric);
CREATE SCHEMA audit;
CREATE TABLE audit.events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text);
INSERT INTO blocks SELECT g, md5(g::text) FROM generate_series(1, 500) g;
INSERT INTO accounts (owner, balance) SELECT 'owner-' || g, g * 10 FROM generate_series(1, 120) g;
INSERT INTO audit.events (what) SELECT 'event ' || g FROM generate_series(1, 37) g;
"""
ROWS = {"audit.events": 37, "public.accounts": 120, "public.blocks": 500}


class LocalRuntime(restore.Runtime):
    """The drill's two places to run commands, on this machine: the backup script as the backup
    role over TCP, and PostgreSQL's tools as the superuser on the server's socket."""

    def __init__(self, pg, script: Path, backup_env: dict[str, str]):
        self.pg, self.script, self.backup_env = pg, script, backup_env

    def backup(self, *argv, env=None):
        program = str(self.script) if argv[0] == "aurigraph-backup" else argv[0]
        return [program, *argv[1:]], {**self.backup_env, **(env or {})}

    def database(self, *argv, env=None, size=None):
        return [str(self.pg.bin_dir / argv[0]), *argv[1:]], {
            **os.environ,
            "PGHOST": str(self.pg.base),
            "PGPORT": str(self.pg.port),
            "PGUSER": "postgres",
            **(env or {}),
        }


@contextmanager
def backed_up_ledger(tmp_path: Path) -> Iterator[tuple[Postgres16, LocalRuntime, Path]]:
    """A database initialised as the postgres container does (init SQL, then the roles SQL with the
    backup role), holding a small ledger, and the backup script set up as the container runs it."""
    with postgres16() as pg:
        init = render_postgres_init("aurigraph", APP, APP_PASSWORD, METRICS, METRICS_PASSWORD)
        roles = render_postgres_roles(APP, APP_PASSWORD, METRICS, METRICS_PASSWORD) + render_backup_role(
            "aurigraph", BACKUP_PASSWORD
        )
        for sql in (init, roles, roles):  # the roles SQL runs on every start: twice must work
            done = pg(user="postgres", stdin=sql)
            assert done.returncode == 0, done.stderr
        created = pg(user=APP, password=APP_PASSWORD, database="aurigraph", stdin=LEDGER)
        assert created.returncode == 0, created.stderr

        script = tmp_path / "aurigraph-backup"
        script.write_text(BACKUP_SCRIPT)
        script.chmod(0o755)
        pgpass = tmp_path / "pgpass"
        pgpass.write_text(pgpass_line("127.0.0.1", pg.port, BACKUP_PASSWORD))
        pgpass.chmod(0o600)
        env = {
            "PATH": f"{pg.bin_dir}:{os.environ['PATH']}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg.port),
            "PGUSER": BACKUP_ROLE,
            "PGDATABASE": "aurigraph",
            "PGPASSFILE": str(pgpass),
            "AURIGRAPH_BACKUP_DIR": str(tmp_path / "backups"),
            "AURIGRAPH_BACKUP_STATUS_DIR": str(tmp_path / "status"),
            "AURIGRAPH_BACKUP_KEEP": "2",
            "AURIGRAPH_BACKUP_VERIFY": "restore",
        }
        yield pg, LocalRuntime(pg, script, env), tmp_path


@pytest.fixture
def cluster(tmp_path):
    with backed_up_ledger(tmp_path) as ledger:
        yield ledger


def drill_outputs(tmp_path: Path, **fields) -> Path:
    """A deployed stack's outputs as the drill reads them (--outputs)."""
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "nodes": {},
                "endpoints": {},
                "faultBudget": 1,
                "backup": {"container": "dev-postgres-backup", "database": "dev-postgres"},
                **fields,
            }
        )
    )
    return path


def backup_once(runtime: LocalRuntime, **env) -> subprocess.CompletedProcess:
    argv, base = runtime.backup("aurigraph-backup", "once")
    return subprocess.run(argv, env={**base, **env}, capture_output=True, text=True)


def status(tmp_path: Path) -> dict[str, float]:
    text = (tmp_path / "status" / STATUS_FILE).read_text()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+)\{[^}]*\} (\S+)$", text, re.M)}


def test_a_backup_is_a_verified_custom_format_dump_and_its_status_is_valid_metrics(cluster):
    pg, runtime, tmp_path = cluster
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / ".aurigraph-20260101T000000Z.partial").write_text("left by a killed pg_dump")
    done = backup_once(runtime)
    assert done.returncode == 0, done.stderr
    backup_id = done.stdout.strip()
    dump = tmp_path / "backups" / f"{backup_id}.dump"
    assert re.fullmatch(r"aurigraph-\d{8}T\d{6}Z", backup_id) and dump.read_bytes()[:5] == b"PGDMP"
    assert "verified (restore)" in done.stderr
    # The scratch database it was verified in is gone; only the dump and the status remain.
    databases = pg("-c", "SELECT datname FROM pg_database", user="postgres").stdout.split()
    assert "aurigraph_backup_check" not in databases
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [".lock", dump.name]
    s = status(tmp_path)
    assert s[LAST_SUCCESS] > 0 and s[FAILURES] == 0 and s[KEPT] == 1
    lint = subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=(tmp_path / "status" / STATUS_FILE).read_text(),
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_backup_role_can_read_everything_but_change_nothing(cluster):
    pg, _, _ = cluster
    pw = dict(user=BACKUP_ROLE, password=BACKUP_PASSWORD, database="aurigraph")
    assert pg("-c", "SELECT count(*) FROM audit.events", **pw).stdout.strip() == "37"
    denied = pg("-c", "DELETE FROM blocks", **pw)
    assert denied.returncode != 0 and "permission denied" in denied.stderr


def test_only_the_newest_verified_backups_are_kept_and_a_failed_one_pushes_none_out(cluster):
    pg, runtime, tmp_path = cluster
    ids = []
    for _ in range(3):
        done = backup_once(runtime)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())
    assert len(set(ids)) == 3
    kept = [b.id for b in restore.list_backups(runtime)]
    assert kept == ids[:0:-1]  # keep = 2, newest first
    good = status(tmp_path)[LAST_SUCCESS]

    wrong = tmp_path / "wrong-pgpass"
    wrong.write_text(pgpass_line("127.0.0.1", pg.port, "not-the-password"))
    wrong.chmod(0o600)
    failed = backup_once(runtime, PGPASSFILE=str(wrong))
    assert failed.returncode == 1 and "pg_dump" in failed.stderr
    s = status(tmp_path)
    assert s[FAILURES] == 1 and s[LAST_SUCCESS] == good and s[KEPT] == 2
    assert [b.id for b in restore.list_backups(runtime)] == kept
    assert not [p for p in (tmp_path / "backups").iterdir() if p.name.endswith(".partial")], "a partial file was left"


def test_restore_drill_round_trips_the_data(cluster, monkeypatch, capsys):
    pg, runtime, tmp_path = cluster
    backup_id = backup_once(runtime).stdout.strip()
    # The damage: rows deleted, a table dropped, a row changed.
    damage = "DELETE FROM blocks WHERE height > 100; DROP TABLE audit.events; UPDATE accounts SET balance = 0"
    assert pg("-c", damage, user=APP, password=APP_PASSWORD, database="aurigraph").returncode == 0
    outputs = drill_outputs(tmp_path, protectData=False)
    monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)

    code = drill.main(["restore", "--outputs", str(outputs), "--backup", backup_id, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    tables = result["report"]["tables"]
    assert tables == {
        "audit.events": {"before": None, "after": 37},
        "public.accounts": {"before": 120, "after": 120},
        "public.blocks": {"before": 100, "after": 500},
    }
    assert restore.row_counts(runtime) == ROWS
    balance = pg("-c", "SELECT sum(balance) FROM accounts", user=APP, password=APP_PASSWORD, database="aurigraph")
    assert balance.stdout.strip() == str(sum(g * 10 for g in range(1, 121)))
    # The restored objects still belong to the application, which can write to them.
    write = pg(
        "-c",
        "INSERT INTO audit.events (what) VALUES ('after restore')",
        user=APP,
        password=APP_PASSWORD,
        database="aurigraph",
    )
    assert write.returncode == 0, write.stderr
    # The backup taken first holds the damaged state, and is kept.
    assert result["report"]["backupBefore"] in [b.id for b in restore.list_backups(runtime)]


def test_the_restore_drill_restores_the_oldest_kept_backup(cluster, monkeypatch, capsys):
    """Its own safety backup used to prune the oldest kept one (keep = 2) before restoring it."""
    pg, runtime, tmp_path = cluster
    oldest = backup_once(runtime).stdout.strip()
    assert (
        pg(
            "-c", "DELETE FROM blocks WHERE height > 250", user=APP, password=APP_PASSWORD, database="aurigraph"
        ).returncode
        == 0
    )
    time.sleep(1.1)  # backup ids are to the second
    backup_once(runtime)
    assert [b.id for b in restore.list_backups(runtime)][-1] == oldest
    monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)
    time.sleep(1.1)
    code = drill.main(
        ["restore", "--outputs", str(drill_outputs(tmp_path, protectData=False)), "--backup", oldest, "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["report"]["tables"]["public.blocks"] == {"before": 250, "after": 500}


def test_restore_drill_lists_backups_without_confirmation(cluster, monkeypatch, capsys, tmp_path):
    _, runtime, _ = cluster
    backup_id = backup_once(runtime).stdout.strip()
    outputs = drill_outputs(tmp_path, protectData=True)
    monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)
    assert drill.main(["restore", "--outputs", str(outputs), "--list"]) == 0
    assert backup_id in capsys.readouterr().out


@pytest.mark.parametrize("protect", [True, None])
def test_restore_drill_refuses_a_protected_stack_without_yes_and_changes_nothing(
    cluster, monkeypatch, capsys, tmp_path, protect
):
    pg, runtime, _ = cluster
    backup_once(runtime)
    pg("-c", "DELETE FROM blocks", user=APP, password=APP_PASSWORD, database="aurigraph")
    outputs = drill_outputs(tmp_path, **({"protectData": protect} if protect is not None else {}))
    monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)
    assert drill.main(["restore", "--outputs", str(outputs)]) == 1
    assert "--yes" in capsys.readouterr().err
    assert restore.row_counts(runtime)["public.blocks"] == 0


def test_restore_drill_names_an_unknown_backup_and_the_kept_ones(cluster, monkeypatch, capsys, tmp_path):
    _, runtime, _ = cluster
    kept = backup_once(runtime).stdout.strip()
    outputs = drill_outputs(tmp_path, protectData=False)
    monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)
    assert drill.main(["restore", "--outputs", str(outputs), "--backup", "aurigraph-19990101T000000Z"]) == 64
    err = capsys.readouterr().err
    assert "no backup 'aurigraph-19990101T000000Z'" in err and kept in err and "Traceback" not in err


def test_restore_drill_needs_the_backup_output(tmp_path, capsys):
    outputs = drill_outputs(tmp_path, protectData=False, backup=None)
    assert drill.main(["restore", "--outputs", str(outputs)]) == 64
    err = capsys.readouterr().err
    assert "no backup output" in err and "Traceback" not in err


def test_backup_alerts_fire_on_an_old_or_failing_backup_under_promtool(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(render_alert_rules("option-b", 6, backup_max_age=3600))
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                # A backup at t=0 (time() = 0 then), then none: the age passes the hour at 61m.
                "input_series": [
                    {"series": f'{LAST_SUCCESS}{{database="aurigraph"}}', "values": "0x120"},
                    {"series": f'{FAILURES}{{database="aurigraph"}}', "values": "0x10 1x110"},
                ],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": "AurigraphBackupTooOld", "exp_alerts": []},
                    {
                        "eval_time": "70m",
                        "alertname": "AurigraphBackupTooOld",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "database": "aurigraph"},
                                "exp_annotations": {
                                    "summary": "The last verified PostgreSQL backup is older than 1 h "
                                    "(0 means none yet)"
                                },
                            }
                        ],
                    },
                    {"eval_time": "5m", "alertname": "AurigraphBackupFailing", "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": "AurigraphBackupFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "database": "aurigraph"},
                                "exp_annotations": {
                                    "summary": "The last 1 PostgreSQL backup attempts failed (see the "
                                    "postgres-backup container's log)"
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yml"
    test_file.write_text(json.dumps(tests))
    done = subprocess.run([require_tool("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_on_a_stack_the_drill_runs_its_commands_with_docker_exec_on_the_stacks_docker_host():
    runtime = restore.runtime_for(
        {
            "host": {"dockerHost": "ssh://aurigraph@203.0.113.10:22"},
            "backup": {"container": "s-postgres-backup", "database": "s-postgres"},
        }
    )
    docker = ["docker", "-H", "ssh://aurigraph@203.0.113.10:22", "exec"]
    assert runtime.backup("aurigraph-backup", "list") == (
        [*docker, "s-postgres-backup", "aurigraph-backup", "list"],
        None,
    )
    # The superuser on the database container's own socket, stdin open for the dump.
    assert runtime.database("pg_restore", "--dbname", "aurigraph", env={"PGAPPNAME": "drill"}) == (
        [*docker, "-i", "-u", "postgres", "-e", "PGAPPNAME=drill", "s-postgres", "pg_restore", "--dbname", "aurigraph"],
        None,
    )
    local = restore.runtime_for({"backup": {"container": "dev-postgres-backup", "database": "dev-postgres"}})
    assert local.backup("aurigraph-backup", "once")[0][:3] == ["docker", "exec", "dev-postgres-backup"]


def test_on_a_kubernetes_stack_the_drill_runs_its_commands_with_kubectl_exec(monkeypatch):
    monkeypatch.setenv("KUBECTL", "/opt/kubectl")
    outputs = {"backup": {"cronJob": "postgres-backup", "databasePod": "postgres-c40656fb-0"}}
    kubectl = Kubectl("aurigraph", "/etc/kube.yaml", "prod")
    runtime = restore.runtime_for(outputs, kubectl)
    prefix = ["/opt/kubectl", "--kubeconfig", "/etc/kube.yaml", "--context", "prod", "--namespace", "aurigraph"]
    # The backup tool in the drill's own pod, made from the CronJob's template.
    assert runtime.backup("aurigraph-backup", "once", env={"AURIGRAPH_BACKUP_KEEP": "3"}) == (
        [*prefix, "exec", "-i", "postgres-backup-drill", "-c", "main", "--"]
        + ["env", "AURIGRAPH_BACKUP_KEEP=3", "aurigraph-backup", "once"],
        None,
    )
    # pg_restore reads exactly the backup's bytes, whether or not the stream passes stdin's end on.
    argv, _ = runtime.database("pg_restore", "--dbname", "aurigraph", env={"PGAPPNAME": "drill"}, size=1234)
    assert argv[len(prefix) :] == [
        "exec", "-i", "postgres-c40656fb-0", "-c", "main", "--", "env", "PGAPPNAME=drill",
        "sh", "-c", 'n="$1"; shift; head -c "$n" | "$@"', "sh", "1234", "pg_restore", "--dbname", "aurigraph",
    ]  # fmt: skip
    piped = subprocess.run([*argv[-8:-3], "wc", "-c"], input=b"x" * 2000, capture_output=True)  # sh -c ... wc -c
    assert piped.stdout.split() == [b"1234"]
    # Outputs of a Docker stack, or of a stack deployed before the backup output, name no CronJob.
    with pytest.raises(restore.UsageError, match="no backup output"):
        restore.runtime_for({"backup": {"container": "s-postgres-backup", "database": "s-postgres"}}, kubectl)


def test_the_containers_run_mode_backs_up_on_its_interval_and_stops_on_sigterm(cluster):
    _, runtime, tmp_path = cluster
    argv, env = runtime.backup("aurigraph-backup", "run")
    loop = subprocess.Popen(
        argv,
        env={**env, "AURIGRAPH_BACKUP_INTERVAL": "1", "AURIGRAPH_BACKUP_KEEP": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(restore.list_backups(runtime)) < 2:
            time.sleep(0.5)
        assert len(restore.list_backups(runtime)) >= 2
    finally:
        loop.send_signal(signal.SIGTERM)  # docker stop
        _, err = loop.communicate(timeout=30)
    assert loop.returncode == 0, err
    assert status(tmp_path)[LAST_SUCCESS] > 0


def test_the_uploader_copies_only_verified_backups_and_reports_failures(tmp_path):
    """The uploader's real script with a stand-in `aws` that records its arguments and, like
    `aws s3 sync --exclude '*' --include '*.dump'`, copies only the dumps."""
    backups, status_dir, bucket, bin_dir = (tmp_path / d for d in ("backups", "status", "bucket", "bin"))
    for d in (backups, status_dir, bucket, bin_dir):
        d.mkdir()
    (backups / "aurigraph-20261127T030000Z.dump").write_bytes(b"PGDMP...")
    (backups / ".aurigraph-20261127T090000Z.partial").write_bytes(b"PGDMP")
    (bin_dir / "aws").write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/aws-calls
[ -e {tmp_path}/fail ] && {{ echo "An error occurred (AccessDenied)" >&2; exit 1; }}
cp "$3"/*.dump {bucket}/
""")
    (bin_dir / "aws").chmod(0o755)
    script = tmp_path / "upload"
    script.write_text(UPLOAD_SCRIPT)
    script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AURIGRAPH_BACKUP_DIR": str(backups),
        "AURIGRAPH_BACKUP_STATUS_DIR": str(status_dir),
        "AURIGRAPH_BACKUP_INTERVAL": "1",
        "AURIGRAPH_BACKUP_BUCKET_URL": "s3://aurigraph-dev-backups-x/dev/",
    }

    def metrics() -> dict[str, float]:
        path = status_dir / UPLOAD_STATUS_FILE
        text = path.read_text() if path.exists() else ""
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+) (\S+)$", text, re.M)}

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not condition():
            time.sleep(0.2)
        assert condition()

    loop = subprocess.Popen([str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: metrics().get(UPLOAD_LAST_SUCCESS, 0) > 0)
        assert sorted(p.name for p in bucket.iterdir()) == ["aurigraph-20261127T030000Z.dump"]
        call = (tmp_path / "aws-calls").read_text().splitlines()[0]
        assert call == (
            f"s3 sync {backups} s3://aurigraph-dev-backups-x/dev/ --exclude * --include *.dump --only-show-errors"
        )
        (tmp_path / "fail").touch()
        wait_for(lambda: metrics().get(UPLOAD_FAILURES, 0) >= 2)
    finally:
        loop.send_signal(signal.SIGTERM)
        _, err = loop.communicate(timeout=30)
    assert loop.returncode == 0 and "copying to s3://aurigraph-dev-backups-x/dev/ failed" in err


def test_a_restore_that_cannot_get_its_locks_rolls_back_and_changes_nothing(cluster, monkeypatch, capsys, tmp_path):
    pg, runtime, _ = cluster
    backup_id = backup_once(runtime).stdout.strip()
    assert (
        pg(
            "-c", "DELETE FROM blocks WHERE height > 10", user=APP, password=APP_PASSWORD, database="aurigraph"
        ).returncode
        == 0
    )
    # A node holding a lock on a table the restore must drop.
    holder = subprocess.Popen(
        [
            str(pg.bin_dir / "psql"),
            "-X",
            "-q",
            "-At",
            "-h",
            str(pg.base),
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "-d",
            "aurigraph",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    holder.stdin.write("BEGIN; LOCK TABLE accounts IN ACCESS SHARE MODE; SELECT 'locked';\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "locked"
    try:
        monkeypatch.setattr(restore, "runtime_for", lambda *_: runtime)
        code = drill.main(
            [
                "restore",
                "--outputs",
                str(drill_outputs(tmp_path, protectData=False)),
                "--backup",
                backup_id,
                "--lock-timeout",
                "1",
                "--json",
            ]
        )
    finally:
        holder.stdin.write("ROLLBACK;\n")
        holder.communicate(timeout=30)
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    (failed,) = [c for c in result["checks"] if c["status"] == "fail"]
    assert (
        "pg_restore failed, nothing was changed" in failed["detail"]
        and "waited more than 1 s for a table lock" in failed["detail"]
    )
    assert restore.row_counts(runtime) == {**ROWS, "public.blocks": 10}
