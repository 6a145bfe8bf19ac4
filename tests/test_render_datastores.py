"""PostgreSQL init SQL run by a real PostgreSQL 16, and redis.conf loaded by a real redis-server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from render.datastores import (
    POSTGRES_START,
    render_postgres_init,
    render_postgres_roles,
    render_redis_conf,
    sql_literal,
)
from tests.helpers import require_tool
from tests.pg import postgres16
from tools.demo import free_port

APP_PASSWORD = "app-pa$$ 'quoted\" word"
METRICS_PASSWORD = "metrics-secret"


def test_sql_literal_doubles_quotes():
    assert sql_literal("it's") == "'it''s'"


@pytest.fixture(scope="module")
def initialised_postgres():
    sql = render_postgres_init("aurigraph", "aurigraph", APP_PASSWORD, "aurigraph_metrics", METRICS_PASSWORD)
    with postgres16() as psql:
        applied = psql(user="postgres", stdin=sql)  # as the image's entrypoint does: psql as superuser
        assert applied.returncode == 0, applied.stderr
        yield psql


def test_postgres_server_is_16(initialised_postgres):
    version = initialised_postgres("-c", "SHOW server_version_num", user="postgres").stdout.strip()
    assert version.startswith("16"), version


def test_app_user_logs_in_with_its_password_and_owns_its_schema(initialised_postgres):
    r = initialised_postgres(
        "-c",
        "CREATE TABLE ledger(id int); INSERT INTO ledger VALUES (1); SELECT count(*) FROM ledger",
        user="aurigraph",
        password=APP_PASSWORD,
        database="aurigraph",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1"


def test_a_wrong_password_is_refused(initialised_postgres):
    r = initialised_postgres("-c", "SELECT 1", user="aurigraph", password="not-it", database="aurigraph")
    assert r.returncode != 0 and "password authentication failed" in r.stderr


NEW_APP_PASSWORD = "rotated 'app' pa$$word"


def test_a_rotated_password_reaches_a_database_initialised_with_the_old_one(tmp_path):
    """The container's real start script on real PostgreSQL 16: initialised with one password,
    restarted with another, the new one works, the old one is refused, and a stop signal reaches
    the server."""
    with postgres16() as pg:
        init = render_postgres_init("aurigraph", "aurigraph", APP_PASSWORD, "aurigraph_metrics", METRICS_PASSWORD)
        assert pg(user="postgres", stdin=init).returncode == 0
        pg.pg_ctl("-m", "fast", "-w", "stop")

        # The image's entrypoint stands in as `docker-entrypoint.sh postgres`: it runs the server.
        tools = pg.base / "bin"
        tools.mkdir()
        (tools / "docker-entrypoint.sh").write_text(
            f"#!/bin/sh\nexec {pg.bin_dir / 'postgres'} -D {pg.data} {pg.server_options}\n"
        )
        (tools / "start").write_text(POSTGRES_START)
        roles = pg.base / "roles.sql"
        roles.write_text(render_postgres_roles("aurigraph", NEW_APP_PASSWORD, "aurigraph_metrics", METRICS_PASSWORD))
        for path in (tools, tools / "docker-entrypoint.sh", tools / "start", roles):
            path.chmod(0o755)
            shutil.chown(path, "pgserver") if pg.run_as else None
        env = {
            **os.environ,
            "PATH": f"{tools}:{pg.bin_dir}:{os.environ['PATH']}",
            "PGPORT": str(pg.port),
            "PGHOST": str(pg.base),
            "AURIGRAPH_ROLES_SQL": str(roles),
        }
        server = subprocess.Popen(
            pg.run_as + [str(tools / "start"), "postgres"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            for _ in range(60):
                if (
                    pg("-c", "SELECT 1", user="aurigraph", password=NEW_APP_PASSWORD, database="aurigraph").returncode
                    == 0
                ):
                    break
                time.sleep(0.5)
            new = pg("-c", "SELECT current_user", user="aurigraph", password=NEW_APP_PASSWORD, database="aurigraph")
            assert new.returncode == 0 and new.stdout.strip() == "aurigraph", new.stderr
            old = pg("-c", "SELECT 1", user="aurigraph", password=APP_PASSWORD, database="aurigraph")
            assert old.returncode != 0 and "password authentication failed" in old.stderr
        finally:
            # docker stop: SIGTERM to the entrypoint (under runuser, to runuser's child, the script).
            script = (
                subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
                if pg.run_as
                else [str(server.pid)]
            )
            os.kill(int(script[0]), signal.SIGTERM)
            output = server.communicate(timeout=60)[0]
        assert server.returncode == 0, output
        assert "role passwords applied" in output
        assert pg(user="postgres", stdin="SELECT 1").returncode != 0, "the server stopped with the script"


def test_metrics_user_can_read_statistics_but_not_write(initialised_postgres):
    ok = initialised_postgres(
        "-c",
        "SELECT count(*) FROM pg_stat_activity",
        user="aurigraph_metrics",
        password=METRICS_PASSWORD,
        database="aurigraph",
    )
    assert ok.returncode == 0, ok.stderr
    denied = initialised_postgres(
        "-c",
        "CREATE TABLE public.nope(id int)",
        user="aurigraph_metrics",
        password=METRICS_PASSWORD,
        database="aurigraph",
    )
    assert denied.returncode != 0 and "permission denied" in denied.stderr


def test_public_cannot_connect_to_the_database(initialised_postgres):
    initialised_postgres("-c", "CREATE ROLE stranger LOGIN PASSWORD 'x'", user="postgres")
    r = initialised_postgres("-c", "SELECT 1", user="stranger", password="x", database="aurigraph")
    assert r.returncode != 0 and "permission denied" in r.stderr


@pytest.fixture(scope="module")
def redis_server():
    server = require_tool("redis-server")
    cli = require_tool("redis-cli")
    conf_dir = Path(tempfile.mkdtemp(prefix="aurigraph-redis-"))
    conf = conf_dir / "redis.conf"
    conf.write_text(render_redis_conf('s3cret "pw"', 128, "allkeys-lru"))
    port = free_port()
    # Only what differs on a test machine is overridden: the port, the data dir, loopback.
    proc = subprocess.Popen(
        [server, str(conf), "--port", str(port), "--dir", str(conf_dir), "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def redis(*args: str, password: str | None = None) -> str:
        env = (
            {**os.environ, "REDISCLI_AUTH": password}
            if password
            else {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        )
        done = subprocess.run([cli, "-p", str(port), *args], env=env, capture_output=True, text=True)
        return (done.stderr + done.stdout).strip()  # redis-cli reports a failed AUTH on stderr

    for _ in range(100):
        if proc.poll() is not None:
            pytest.fail(f"redis-server refused the rendered config:\n{proc.stdout.read()}")
        if redis("ping", password='s3cret "pw"') == "PONG":
            break
        time.sleep(0.05)
    yield redis
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(conf_dir, ignore_errors=True)


def test_redis_requires_the_password(redis_server):
    assert "NOAUTH" in redis_server("ping")
    assert "WRONGPASS" in redis_server("ping", password="guess")
    assert redis_server("ping", password='s3cret "pw"') == "PONG"


def test_redis_applies_memory_limit_policy_and_persistence(redis_server):
    pw = 's3cret "pw"'
    assert redis_server("config", "get", "maxmemory", password=pw).splitlines()[-1] == str(128 * 1024 * 1024)
    assert redis_server("config", "get", "maxmemory-policy", password=pw).splitlines()[-1] == "allkeys-lru"
    assert redis_server("config", "get", "appendonly", password=pw).splitlines()[-1] == "yes"


def test_redis_conf_rejects_an_unknown_policy():
    with pytest.raises(ValueError):
        render_redis_conf("pw", 128, "most-recent")
