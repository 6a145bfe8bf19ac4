"""Restore drill: list the stack's PostgreSQL backups, restore one into the running database,
and report the rows per table before and after.

    python -m tools.drill restore --stack option-b [--backup ID] [--yes] [--json]

1. lists the verified backups the backup container keeps (`aurigraph-backup list`), newest first;
2. counts the rows of every table in the running database;
3. takes a fresh backup first (`aurigraph-backup once`, keeping one more than are kept, so that it
   prunes none: the chosen backup may be the oldest), so the restore itself can be undone;
4. streams the chosen backup (default: the newest) into `pg_restore --clean --if-exists
   --single-transaction` in the database container, as the superuser on its local socket: all
   or nothing. A dump resets lock_timeout to 0, so the drill watches the restore's session
   itself: waiting on a table lock for longer than --lock-timeout, it is cancelled, and the
   transaction rolls back rather than hanging;
5. counts the rows again and reports both.

The commands run with `docker exec` on the stack's Docker host (the `backup` output names the
containers). On a target-kubernetes stack they run with `kubectl exec` (tools/kubectl.py): in
the database pod, and in a pod the drill makes from the backup CronJob's own pod template (its
image, backups claim, secrets and labels) and deletes when it ends; only one drill at a time can
have it. The nodes keep running: tables they hold locks on wait for them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model.services import DATABASE
from tools.kubectl import Kubectl
from tools.ops import Check, OpsError, UsageError

# One query counting every table outside the system schemas, built by the server itself (names
# quoted by format's %I and %L), so a second call gets exact counts without creating anything.
COUNT_QUERY = """\
SELECT coalesce(string_agg(format('SELECT %L, count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname,
                                  c.relname), ' UNION ALL ' ORDER BY n.nspname, c.relname), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"""


# How the drill finds its own pg_restore session (application_name, set through libpq's PGAPPNAME).
RESTORE_APP = "aurigraph-restore-drill"
WAITING_ON_A_LOCK = (
    f"SELECT pid FROM pg_stat_activity WHERE application_name = '{RESTORE_APP}' AND wait_event_type = 'Lock'"
)


@dataclass(frozen=True)
class Backup:
    id: str
    bytes: int
    finished: int  # Unix time


class Runtime:
    """Where the drill's commands run: `backup(argv)` where the backups are, `database(argv)` as
    PostgreSQL's superuser on the database's local socket. Each returns (argv, env) to run here.
    `size`: the bytes the database command will read on its stdin, when it reads a backup.
    Used as a context manager, around everything the drill runs."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        return None


class DockerExec(Runtime):
    """Commands in the stack's containers: the backup container, and the database container as
    its `postgres` user (the superuser, on the local socket)."""

    def __init__(self, docker_host: str | None, backup_container: str, database_container: str):
        self.docker = ["docker"] + (["-H", docker_host] if docker_host else [])
        self.backup_container, self.database_container = backup_container, database_container

    def backup(self, *argv: str, env: Mapping[str, str] | None = None) -> tuple[list[str], Mapping[str, str] | None]:
        flags = [f for k, v in sorted((env or {}).items()) for f in ("-e", f"{k}={v}")]
        return [*self.docker, "exec", *flags, self.backup_container, *argv], None

    def database(
        self, *argv: str, env: Mapping[str, str] | None = None, size: int | None = None
    ) -> tuple[list[str], Mapping[str, str] | None]:
        flags = [f for k, v in sorted((env or {}).items()) for f in ("-e", f"{k}={v}")]
        return [*self.docker, "exec", "-i", "-u", "postgres", *flags, self.database_container, *argv], None


class KubeExec(Runtime):
    """Commands in the stack's pods with `kubectl exec`: PostgreSQL's tools in the database pod
    (whose user is the superuser, on its local socket), and the backup tool in DRILL_POD, made
    for the drill from the backup CronJob's pod template (a CronJob keeps no pod running)."""

    # Seconds the drill's pod lives at most, should the drill die before it deletes it (the
    # kubelet ends it: activeDeadlineSeconds).
    LIFETIME = 3600

    def __init__(self, kubectl: Kubectl, cron_job: str, database_pod: str):
        self.kubectl, self.cron_job, self.database_pod = kubectl, cron_job, database_pod
        self.pod = f"{cron_job}-drill"

    def __enter__(self) -> KubeExec:
        template = self.kubectl.get("cronjob", self.cron_job)["spec"]["jobTemplate"]["spec"]["template"]
        spec = template["spec"]
        main = {**spec["containers"][0], "command": ["sleep", str(self.LIFETIME)]}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.pod,
                "labels": template["metadata"].get("labels", {}),
                "annotations": {"aurigraph.io/purpose": "restore drill (tools.drill restore); deleted when it ends"},
            },
            "spec": {**spec, "containers": [main], "restartPolicy": "Never", "activeDeadlineSeconds": self.LIFETIME},
        }
        try:
            self.kubectl.run("create", "-f", "-", stdin=json.dumps(pod), what=f"creating the drill's pod {self.pod}")
        except OpsError as e:
            if "AlreadyExists" in str(e) or "already exists" in str(e):
                raise OpsError(
                    f"pod {self.pod} exists: another restore drill is running; if none is, delete it "
                    f"(kubectl delete pod -n {self.kubectl.namespace} {self.pod})"
                ) from None
            raise
        try:
            self.kubectl.run(
                "wait", "--for=condition=Ready", f"pod/{self.pod}", "--timeout=120s", what=f"waiting for {self.pod}"
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.kubectl.run("delete", "pod", self.pod, "--wait=false", what=f"deleting the drill's pod {self.pod}")

    def backup(self, *argv: str, env: Mapping[str, str] | None = None) -> tuple[list[str], Mapping[str, str] | None]:
        return self.kubectl.exec_argv(self.pod, *argv, env=env), None

    def database(
        self, *argv: str, env: Mapping[str, str] | None = None, size: int | None = None
    ) -> tuple[list[str], Mapping[str, str] | None]:
        if size is None:
            return self.kubectl.exec_argv(self.database_pod, *argv, env=env), None
        # The command reads exactly `size` bytes: its input ends there whether or not the exec
        # stream passes the end of stdin on (kubectl's v5 protocol does; older exec paths, and
        # kwok's, never close the command's stdin, and pg_restore would wait for ever).
        return self.kubectl.exec_argv(
            self.database_pod, "sh", "-c", 'n="$1"; shift; head -c "$n" | "$@"', "sh", str(size), *argv, env=env
        ), None


def _run(command: tuple[list[str], Mapping[str, str] | None], what: str) -> str:
    argv, env = command
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
    except OSError as e:
        raise OpsError(f"{what}: cannot run {argv[0]}: {e.strerror or e}") from None
    if done.returncode != 0:
        raise OpsError(f"{what} failed: {_last_line(done.stderr)}")
    return done.stdout


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[-1]


def list_backups(runtime) -> list[Backup]:
    backups = []
    for line in _run(runtime.backup("aurigraph-backup", "list"), "listing the backups").splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise OpsError(f"unexpected line from aurigraph-backup list: {line!r}")
        backups.append(Backup(fields[0], int(fields[1]), int(fields[2])))
    return backups


def _psql(runtime, sql: str, what: str) -> str:
    return _run(
        runtime.database("psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-c", sql),
        what,
    )


def row_counts(runtime) -> dict[str, int]:
    """Table (schema.name) -> its exact row count."""
    query = _psql(runtime, COUNT_QUERY, "listing the tables").strip()
    out = _psql(runtime, query, "counting rows") if query else ""
    return {table: int(count) for table, count in (line.rsplit("\t", 1) for line in out.splitlines() if line)}


class LockWatch:
    """Cancels the restore once its session has waited on a lock for `limit` seconds in a row."""

    def __init__(self, runtime, limit: float):
        self.runtime, self.limit = runtime, limit
        self.waiting_since: float | None = None
        self.cancelled = False

    def __call__(self) -> None:
        waiting = _psql(self.runtime, WAITING_ON_A_LOCK, "watching the restore's locks").split()
        if not waiting:
            self.waiting_since = None
            return
        self.waiting_since = self.waiting_since or time.monotonic()
        if not self.cancelled and time.monotonic() - self.waiting_since >= self.limit:
            _psql(self.runtime, f"SELECT pg_cancel_backend({int(waiting[0])})", "cancelling the restore")
            self.cancelled = True


def _pipe(source, sink, what: str, watch: LockWatch) -> None:
    """source's stdout into sink's stdin; both must succeed. `watch` runs every second meanwhile."""
    (src_argv, src_env), (dst_argv, dst_env) = source, sink
    try:
        producer = subprocess.Popen(src_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=src_env)
    except OSError as e:
        raise OpsError(f"{what}: cannot run {src_argv[0]}: {e.strerror or e}") from None
    assert producer.stdout is not None and producer.stderr is not None  # both are PIPEs
    try:
        consumer = subprocess.Popen(
            dst_argv, stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dst_env
        )
    except OSError as e:
        producer.kill()
        raise OpsError(f"{what}: cannot run {dst_argv[0]}: {e.strerror or e}") from None
    finally:
        producer.stdout.close()
    while True:
        try:
            _, consumer_err = consumer.communicate(timeout=1)
            break
        except subprocess.TimeoutExpired:
            watch()
    producer_err = producer.stderr.read().decode(errors="replace")
    producer_status = producer.wait()
    # pg_restore's own failure first: when it stops reading, the reader dies of a broken pipe.
    if consumer.returncode != 0:
        why = (
            f"it waited more than {watch.limit:g} s for a table lock (a node holding it?) and was cancelled"
            if watch.cancelled
            else _last_line(consumer_err)
        )
        raise OpsError(f"{what}: pg_restore failed, nothing was changed (one transaction): {why}")
    if producer_status != 0:
        raise OpsError(f"{what}: reading the backup failed: {_last_line(producer_err)}")


def restore(runtime, backup_id: str | None, lock_timeout: float) -> tuple[list[Check], dict[str, Any]]:
    backups = list_backups(runtime)
    report: dict[str, Any] = {"backups": [b.__dict__ for b in backups]}
    if not backups:
        return [
            Check("backups", "fail", "no verified backup is kept yet (see the postgres-backup container's log)")
        ], report
    ids = [b.id for b in backups]
    chosen = backup_id or ids[0]
    if chosen not in ids:
        raise UsageError(f"no backup {chosen!r}; kept: {', '.join(ids)}")
    checks = [Check("backups", "pass", f"{len(backups)} kept, newest {ids[0]}; restoring {chosen}")]
    before = row_counts(runtime)
    # Kept one more than there are, so this backup prunes none: the chosen one may be the oldest.
    safety = (
        _run(
            runtime.backup("aurigraph-backup", "once", env={"AURIGRAPH_BACKUP_KEEP": str(len(backups) + 1)}),
            "the backup before restoring",
        )
        .strip()
        .splitlines()[-1]
    )
    checks.append(Check("backup first", "pass", f"{safety}: restore it to undo this drill"))
    report.update(restored=chosen, backupBefore=safety)
    _pipe(
        runtime.backup("aurigraph-backup", "cat", chosen),
        runtime.database(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            DATABASE,
            env={"PGAPPNAME": RESTORE_APP},
            size=next(b.bytes for b in backups if b.id == chosen),
        ),
        f"restoring {chosen}",
        LockWatch(runtime, lock_timeout),
    )
    after = row_counts(runtime)
    tables = sorted(set(before) | set(after))
    report["tables"] = {t: {"before": before.get(t), "after": after.get(t)} for t in tables}
    checks.append(Check("restore", "pass", f"{chosen} restored into {DATABASE}: {len(after)} tables"))
    checks += [
        Check(f"rows {t}", "pass", f"{_count(before.get(t))} before, {_count(after.get(t))} after") for t in tables
    ]
    return checks, report


def _count(n: int | None) -> str:
    return "no table" if n is None else str(n)


def runtime_for(outputs: Mapping[str, Any], kubectl: Kubectl | None = None) -> Runtime:
    """kubectl: how to reach a target-kubernetes stack's cluster (the drill's --kubeconfig, --context)."""
    backup = outputs.get("backup")
    names = ("cronJob", "databasePod") if kubectl is not None else ("container", "database")
    if not isinstance(backup, dict) or not all(backup.get(n) for n in names):
        raise UsageError(
            "the stack has no backup output: backups are off (backup.enabled false) or it was "
            "deployed before backups existed; run `pulumi up` first"
        )
    if kubectl is not None:
        return KubeExec(kubectl, backup["cronJob"], backup["databasePod"])
    return DockerExec(outputs.get("host", {}).get("dockerHost"), backup["container"], backup["database"])


def print_backups(backups: Sequence[Backup]) -> str:
    lines = [f"{'BACKUP':<32}{'BYTES':>14}  FINISHED (UTC)"]
    lines += [
        f"{b.id:<32}{b.bytes:>14}  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(b.finished))}" for b in backups
    ]
    return "\n".join(lines) + "\n"
