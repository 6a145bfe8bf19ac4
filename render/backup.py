"""The PostgreSQL backup container's script, its role's SQL, the S3 uploader's loop, and the metric names.

`aurigraph-backup` runs in the database's own image (pg_dump and pg_restore of the server's
version), on the cluster network, as the `aurigraph_backup` role: read access to all data
(pg_read_all_data) and CREATEDB for the scratch database a backup is verified in.

    aurigraph-backup run     take a backup now and every AURIGRAPH_BACKUP_INTERVAL seconds
    aurigraph-backup once    take one backup now
    aurigraph-backup list    the kept backups, newest first: id, bytes, finished at (Unix time)
    aurigraph-backup cat ID  one kept backup's bytes, for pg_restore

A backup is `pg_dump --format=custom` into a hidden partial file. It counts only once
verified: `pg_restore --list` reads it, and with AURIGRAPH_BACKUP_VERIFY=restore it is
restored into a scratch database, which is then dropped. Only then is it renamed to
`<id>.dump` and the oldest beyond AURIGRAPH_BACKUP_KEEP removed, so a failed backup never
pushes a good one out. Every attempt rewrites the status file node-exporter's textfile
collector reads (`aurigraph_backup.prom`); the alert rules fire on its age and failures.
"""

from __future__ import annotations

from .datastores import sql_literal

BACKUP_ROLE = "aurigraph_backup"
SCRIPT_PATH = "/usr/local/bin/aurigraph-backup"
STATUS_FILE = "aurigraph_backup.prom"
UPLOAD_STATUS_FILE = "aurigraph_backup_upload.prom"

# The metrics the status files carry (gauges, labelled database="<name>").
LAST_SUCCESS = "aurigraph_backup_last_success_timestamp_seconds"
LAST_ATTEMPT = "aurigraph_backup_last_attempt_timestamp_seconds"
LAST_SIZE = "aurigraph_backup_last_size_bytes"
LAST_DURATION = "aurigraph_backup_last_duration_seconds"
FAILURES = "aurigraph_backup_consecutive_failures"
KEPT = "aurigraph_backup_kept"
UPLOAD_LAST_SUCCESS = "aurigraph_backup_upload_last_success_timestamp_seconds"
UPLOAD_FAILURES = "aurigraph_backup_upload_consecutive_failures"


def render_backup_role(database: str, password: str) -> str:
    """The backup role, created when missing and its password applied on every database start
    (a stack deployed before backups existed gets it on its next start)."""
    return f"""\
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BACKUP_ROLE}') THEN CREATE ROLE {BACKUP_ROLE}; END IF;
END$$;
ALTER ROLE {BACKUP_ROLE} WITH LOGIN CREATEDB NOSUPERUSER PASSWORD {sql_literal(password)};
GRANT pg_read_all_data TO {BACKUP_ROLE};
GRANT CONNECT ON DATABASE {database} TO {BACKUP_ROLE};
"""


def pgpass_line(host: str, port: int, password: str) -> str:
    """A ~/.pgpass line for the backup role (':' and '\\' escaped, as libpq reads them)."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"{host}:{port}:*:{BACKUP_ROLE}:{escaped}\n"


BACKUP_SCRIPT = r"""#!/bin/sh
# aurigraph-backup: verified pg_dump backups of one database (see render/backup.py).
set -u
dir=${AURIGRAPH_BACKUP_DIR:-/backups}
status_dir=${AURIGRAPH_BACKUP_STATUS_DIR:-/status}
interval=${AURIGRAPH_BACKUP_INTERVAL:-21600}
keep=${AURIGRAPH_BACKUP_KEEP:-28}
verify=${AURIGRAPH_BACKUP_VERIFY:-restore}
db=${PGDATABASE:?PGDATABASE names the database to back up}
scratch="${db}_backup_check"

log() { echo "aurigraph-backup: $*" >&2; }

state() {  # state NAME [DEFAULT]: a number kept in the status directory across restarts
  v=$(cat "$status_dir/.$1" 2>/dev/null || true)
  case "$v" in ''|*[!0-9]*) echo "${2:-0}" ;; *) echo "$v" ;; esac
}

set_state() { printf '%s\n' "$2" > "$status_dir/.$1.tmp" && mv "$status_dir/.$1.tmp" "$status_dir/.$1"; }

list() {  # id, bytes, finished at; newest first
  for f in $(ls -1 "$dir" 2>/dev/null | grep -E '^[A-Za-z0-9_.-]+-[0-9]{8}T[0-9]{6}Z\.dump$' | sort -r); do
    printf '%s\t%s\t%s\n' "${f%.dump}" "$(stat -c %s "$dir/$f")" "$(stat -c %Y "$dir/$f")"
  done
}

write_status() {
  kept=$(list | wc -l)
  l="{database=\"$db\"}"
  {
    echo "# HELP @LAST_SUCCESS@ When the last verified backup finished (0: never)."
    echo "# TYPE @LAST_SUCCESS@ gauge"
    echo "@LAST_SUCCESS@$l $(state last_success)"
    echo "# HELP @LAST_ATTEMPT@ When the last backup attempt finished."
    echo "# TYPE @LAST_ATTEMPT@ gauge"
    echo "@LAST_ATTEMPT@$l $(state last_attempt)"
    echo "# HELP @LAST_SIZE@ Size of the last verified backup."
    echo "# TYPE @LAST_SIZE@ gauge"
    echo "@LAST_SIZE@$l $(state last_size)"
    echo "# HELP @LAST_DURATION@ How long the last verified backup took, dump and verification."
    echo "# TYPE @LAST_DURATION@ gauge"
    echo "@LAST_DURATION@$l $(state last_duration)"
    echo "# HELP @FAILURES@ Backup attempts that failed since the last verified one."
    echo "# TYPE @FAILURES@ gauge"
    echo "@FAILURES@$l $(state failures)"
    echo "# HELP @KEPT@ Verified backups kept on the backup volume."
    echo "# TYPE @KEPT@ gauge"
    echo "@KEPT@$l $kept"
  } > "$status_dir/.@STATUS_FILE@.tmp" && mv "$status_dir/.@STATUS_FILE@.tmp" "$status_dir/@STATUS_FILE@"
}

failed() {
  log "backup $id failed: $1"
  rm -f "$partial"
  set_state failures $(( $(state failures) + 1 ))
  set_state last_attempt "$(date +%s)"
  write_status
  exec 9>&-
  return 1
}

verify_restore() {  # restore into a scratch database, then drop it
  dropdb --if-exists "$scratch" && createdb "$scratch" || return 1
  pg_restore --exit-on-error --no-owner --no-privileges --dbname="$scratch" "$partial"
  ok=$?
  dropdb --if-exists "$scratch" || true
  return $ok
}

backup() {
  # One at a time (`once` waits for a running one); then a partial file can only be a leftover.
  exec 9> "$dir/.lock" && flock 9 || { log "cannot lock $dir/.lock"; return 1; }
  rm -f "$dir"/.*.partial
  started=$(date +%s)
  id="$db-$(date -u +%Y%m%dT%H%M%SZ)"
  while [ -e "$dir/$id.dump" ]; do sleep 1; id="$db-$(date -u +%Y%m%dT%H%M%SZ)"; done
  partial="$dir/.$id.partial"
  pg_dump --format=custom --no-password --file="$partial" "$db" || { failed "pg_dump"; return 1; }
  pg_restore --list "$partial" > /dev/null || { failed "pg_restore --list cannot read it"; return 1; }
  if [ "$verify" = restore ]; then
    verify_restore || { failed "restoring it into the scratch database $scratch"; return 1; }
  fi
  mv "$partial" "$dir/$id.dump" || { failed "keeping it"; return 1; }
  finished=$(date +%s)
  list | tail -n +$((keep + 1)) | cut -f1 | while read -r old; do rm -f "$dir/$old.dump"; done
  set_state last_success "$finished"
  set_state last_attempt "$finished"
  set_state last_size "$(stat -c %s "$dir/$id.dump")"
  set_state last_duration $((finished - started))
  set_state failures 0
  write_status
  log "backup $id verified ($verify) and kept, $(state last_size) bytes in $((finished - started)) s"
  echo "$id"
  exec 9>&-
}

mkdir -p "$dir" "$status_dir"
case "${1:-}" in
  run)
    trap 'exit 0' TERM INT
    write_status
    while :; do
      backup > /dev/null || true
      sleep "$interval" & wait $!
    done ;;
  once) backup ;;
  list) list ;;
  cat)  # cat ID: one kept backup's bytes (the restore drill streams it to pg_restore)
    list | cut -f1 | grep -qxF -- "${2:-}" || { log "no backup ${2:-} (see: aurigraph-backup list)"; exit 1; }
    exec cat "$dir/$2.dump" ;;
  *) echo "usage: aurigraph-backup run|once|list|cat ID" >&2; exit 64 ;;
esac
"""

_METRICS = {
    "@LAST_SUCCESS@": LAST_SUCCESS,
    "@LAST_ATTEMPT@": LAST_ATTEMPT,
    "@LAST_SIZE@": LAST_SIZE,
    "@LAST_DURATION@": LAST_DURATION,
    "@FAILURES@": FAILURES,
    "@KEPT@": KEPT,
    "@STATUS_FILE@": STATUS_FILE,
    "@UPLOAD_LAST_SUCCESS@": UPLOAD_LAST_SUCCESS,
    "@UPLOAD_FAILURES@": UPLOAD_FAILURES,
    "@UPLOAD_STATUS_FILE@": UPLOAD_STATUS_FILE,
}


def _fill(script: str) -> str:
    for marker, name in _METRICS.items():
        script = script.replace(marker, name)
    return script


# The uploader (amazon/aws-cli, credentials from the VM's instance profile): every interval, copy
# the verified backups the bucket does not have yet. Write-only: it may list and put, never delete;
# the bucket's lifecycle expires old copies.
UPLOAD_SCRIPT = r"""#!/bin/sh
set -u
dir=${AURIGRAPH_BACKUP_DIR:-/backups}
status_dir=${AURIGRAPH_BACKUP_STATUS_DIR:-/status}
interval=${AURIGRAPH_BACKUP_INTERVAL:-21600}
target=${AURIGRAPH_BACKUP_BUCKET_URL:?AURIGRAPH_BACKUP_BUCKET_URL names s3://bucket/prefix/}
last=0
failures=0
write_status() {
  {
    echo "# HELP @UPLOAD_LAST_SUCCESS@ When the backups were last copied to the bucket (0: not since start)."
    echo "# TYPE @UPLOAD_LAST_SUCCESS@ gauge"
    echo "@UPLOAD_LAST_SUCCESS@ $last"
    echo "# HELP @UPLOAD_FAILURES@ Copies to the bucket that failed since the last one that worked."
    echo "# TYPE @UPLOAD_FAILURES@ gauge"
    echo "@UPLOAD_FAILURES@ $failures"
  } > "$status_dir/.@UPLOAD_STATUS_FILE@.tmp" && mv "$status_dir/.@UPLOAD_STATUS_FILE@.tmp" "$status_dir/@UPLOAD_STATUS_FILE@"
}
trap 'exit 0' TERM INT
write_status
while :; do
  if aws s3 sync "$dir" "$target" --exclude '*' --include '*.dump' --only-show-errors; then
    last=$(date +%s); failures=0
  else
    failures=$((failures + 1)); echo "aurigraph-backup-upload: copying to $target failed" >&2
  fi
  write_status
  sleep "$interval" & wait $!
done
"""

BACKUP_SCRIPT = _fill(BACKUP_SCRIPT)
UPLOAD_SCRIPT = _fill(UPLOAD_SCRIPT)
