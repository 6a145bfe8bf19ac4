"""PostgreSQL init SQL and redis.conf. Both carry passwords: callers render them inside an
`apply` on secret Outputs, so the text stays secret in state."""

from __future__ import annotations

from model.config import REDIS_POLICIES
from model.services import service


def sql_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported PostgreSQL)."""
    return "'" + value.replace("'", "''") + "'"


def render_postgres_init(
    database: str, app_user: str, app_password: str, metrics_user: str, metrics_password: str
) -> str:
    """Run once by the image's entrypoint (psql, as the superuser) on an empty data directory."""
    return f"""\
-- The application's own role and database; nothing is granted to PUBLIC.
CREATE ROLE {app_user} LOGIN PASSWORD {sql_literal(app_password)};
CREATE DATABASE {database} OWNER {app_user};
REVOKE ALL ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {app_user};

-- A read-only role for the metrics exporter.
CREATE ROLE {metrics_user} LOGIN PASSWORD {sql_literal(metrics_password)};
GRANT pg_monitor TO {metrics_user};
GRANT CONNECT ON DATABASE {database} TO {metrics_user};

\\connect {database}
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO {app_user};
"""


def render_redis_conf(password: str, max_memory_mb: int, policy: str) -> str:
    if policy not in REDIS_POLICIES:
        raise ValueError(f"unknown maxmemory policy {policy!r}")
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"""\
bind 0.0.0.0
port {service("redis").port}
protected-mode yes
requirepass {quoted}
maxmemory {max_memory_mb}mb
maxmemory-policy {policy}
# Persistence: append-only log fsynced every second, plus periodic snapshots.
appendonly yes
appendfsync everysec
save 900 1
save 300 100
# No `dir`: the redis image's working directory, /data (the volume), is the default.
"""


def render_postgres_roles(app_user: str, app_password: str, metrics_user: str, metrics_password: str) -> str:
    """The configured role passwords, applied on every start (see POSTGRES_START): the init SQL
    runs only on an empty data directory, so a rotated password would otherwise never arrive."""
    return (
        f"ALTER ROLE {app_user} WITH LOGIN PASSWORD {sql_literal(app_password)};\n"
        f"ALTER ROLE {metrics_user} WITH LOGIN PASSWORD {sql_literal(metrics_password)};\n"
    )


# The PostgreSQL container's entrypoint: the image's own, then the role passwords once the server
# takes connections, then it waits on the server, passing on a stop signal. It fails (and the
# container with it) when the passwords cannot be applied, so a rollout stops there.
POSTGRES_START = """#!/bin/sh
set -eu
docker-entrypoint.sh "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT
# On a first start the image's initialisation runs on a socket-only server; wait for the real one.
until pg_isready -q -h 127.0.0.1 -U postgres; do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; exit $?; fi
  sleep 1
done
psql -X -v ON_ERROR_STOP=1 -q -U postgres -d postgres -f "$AURIGRAPH_ROLES_SQL"
echo "aurigraph: role passwords applied"
# A trapped signal interrupts `wait`; wait again until the server has really exited.
while :; do
  if wait "$pid"; then status=0; else status=$?; fi
  kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
"""

# Grafana's entrypoint: GF_SECURITY_ADMIN_PASSWORD is read only when Grafana creates its
# database; on every later start, set the configured password first, then start as the image does.
GRAFANA_START = """#!/bin/sh
set -eu
if [ -f "${GF_PATHS_DATA:-/var/lib/grafana}/grafana.db" ]; then
  printf '%s' "$GF_SECURITY_ADMIN_PASSWORD" | grafana cli --homepath "${GF_PATHS_HOME:-/usr/share/grafana}" \\
    --config "${GF_PATHS_CONFIG:-/etc/grafana/grafana.ini}" admin reset-admin-password --password-from-stdin
fi
exec /run.sh "$@"
"""
