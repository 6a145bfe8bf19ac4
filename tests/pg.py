"""A throwaway PostgreSQL 16 for tests: the pgserver wheel's binaries, a private socket and a port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.demo import free_port


@dataclass
class Postgres16:
    """A throwaway PostgreSQL 16 (the pgserver wheel's binaries): trust on its private socket for
    the superuser, scram-sha-256 on 127.0.0.1 for everyone, as the postgres image does."""

    bin_dir: Path
    base: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.base / "data"

    def __call__(
        self, *args: str, user: str, password: str | None = None, database: str = "postgres", stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        host = "127.0.0.1" if password is not None else str(self.base)
        env = {**os.environ, "PGPASSWORD": password or ""}
        return subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                host,
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                database,
                "-tA",
                *args,
            ],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
        )

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self.run_as + [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args], check=True, capture_output=True
        )

    def start(self) -> None:
        self.pg_ctl("-w", "-l", str(self.base / "log"), "-o", self.server_options, "start")

    @property
    def server_options(self) -> str:
        return f"-h 127.0.0.1 -p {self.port} -k {self.base}"


# One initdb per test process; each server starts from a copy of it (initdb takes about a
# second, a copy a tenth of that).
_TEMPLATE: dict[str, Path] = {}


def _initialised(bin_dir: Path, run_as: list[str]) -> Path:
    if "data" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="aurigraph-pg-template-", dir="/tmp"))
        if run_as:
            shutil.chown(template, "pgserver")
        subprocess.run(
            run_as
            + [
                str(bin_dir / "initdb"),
                "-D",
                str(template / "data"),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
            ],
            check=True,
            capture_output=True,
        )
        _TEMPLATE["data"] = template / "data"
    return _TEMPLATE["data"]


@contextmanager
def postgres16():
    try:
        import pgserver
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("pgserver (PostgreSQL 16 binaries) is required in CI")
        pytest.skip("pgserver not installed")
    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    base = Path(tempfile.mkdtemp(prefix="aurigraph-pg-", dir="/tmp"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(bin_dir)
        shutil.chown(base, "pgserver")
        run_as = ["runuser", "-u", "pgserver", "--"]
    pg = Postgres16(bin_dir, base, free_port(), run_as)
    # cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
    subprocess.run(["cp", "-a", str(_initialised(bin_dir, run_as)), str(pg.data)], check=True)
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(
            run_as + [str(bin_dir / "pg_ctl"), "-D", str(pg.data), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)
