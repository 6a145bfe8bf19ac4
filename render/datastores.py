"""PostgreSQL init SQL and redis.conf. Both carry passwords: callers render them inside an
`apply` on secret Outputs, so the text stays secret in state."""

from __future__ import annotations

from model.config import REDIS_POLICIES
from model.services import service


def sql_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported PostgreSQL)."""
    return "'" + value.replace("'", "''") + "'"


def render_postgres_init(database: str, app_user: str, app_password: str, metrics_user: str,
                         metrics_password: str) -> str:
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
port {service('redis').port}
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
