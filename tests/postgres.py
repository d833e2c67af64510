"""A throwaway PostgreSQL server for the tests, started by the tests themselves.

Debian's ``postgresql`` package (``scripts/setup --test`` installs it) gives the
binaries; ``initdb`` makes a cluster in a directory of its own (as the ``postgres`` user
when the tests run as root), ``pg_ctl`` starts it on a free loopback port with fsync off,
and it is stopped and its directory removed when the session ends. Every test gets a
database of its own, copied from a template that already has the schema (a copy takes
milliseconds; migrating a fresh database takes most of a second).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from dockyard.store import migrate
from tests.helpers import free_port

TEMPLATE = "dockyard_template"


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL here: run scripts/setup --test (installs postgresql)")
    return found[-1].parent


def _as_postgres() -> list[str]:
    """initdb and the server refuse to run as root: as root, run them as ``postgres``."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresServer:
    port: int
    home: Path  # made by this module (mkdtemp): removed with the server

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def _admin(self) -> Iterator[sa.Connection]:
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def create_database(self) -> str:
        """A new database with dockyard's schema (and no installation yet)."""
        name = f"dockyard_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    @contextmanager
    def database(self) -> Iterator[str]:
        """The URL of a new database with the schema, dropped after the block."""
        name = self.create_database()
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)


def start() -> PostgresServer:
    bindir = _bindir()
    home = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    run = [*_as_postgres()]
    subprocess.run(
        [
            *run,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    subprocess.run(
        [
            *run,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(home / "log"),
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    server = PostgresServer(port=port, home=home)
    with server._admin() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{TEMPLATE}"'))
    engine = sa.create_engine(server.url(TEMPLATE))
    try:
        migrate.upgrade(engine, context={})
    finally:
        engine.dispose()
    return server


def stop(server: PostgresServer) -> None:
    data = server.home / "data"
    subprocess.run(
        [*_as_postgres(), str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
        check=False,
        capture_output=True,
    )
    shutil.rmtree(server.home, ignore_errors=True)
