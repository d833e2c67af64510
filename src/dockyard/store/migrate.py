"""Bring a database to the schema this dockyard expects, safely from many processes.

Opening a store that is already current costs one small query and never imports
Alembic. Otherwise migrations run under a lock, so twenty ``dockyard up`` processes
started at once against a fresh database migrate it exactly once: a file lock next to
the database for SQLite, an advisory lock for PostgreSQL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dockyard.core.errors import StoreError
from dockyard.store.schema import SCHEMA_REVISION

_MIGRATIONS = Path(__file__).parent / "migrations"
_KNOWN_REVISIONS = frozenset(
    path.stem.split("_")[1] for path in (_MIGRATIONS / "versions").glob("rev_*.py")
)
_PG_LOCK_ID = 0x646F636B  # "dock"


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine, *, context: Mapping[str, Any] | None = None) -> None:
    """Migrate ``engine``'s database to ``SCHEMA_REVISION`` if it is behind; ``context``
    reaches the migrations as ``config.attributes`` (what a data migration may need)."""
    with engine.connect() as conn:
        if current_revision(conn) == SCHEMA_REVISION:
            return
    with _migration_lock(engine), engine.connect() as conn:
        revision = current_revision(conn)
        if revision == SCHEMA_REVISION:
            return
        if revision is not None and revision not in _KNOWN_REVISIONS:
            raise StoreError(
                f"the store has schema revision {revision}, newer than this dockyard "
                f"understands ({SCHEMA_REVISION}); upgrade dockyard"
            )
        _run_alembic(conn, context or {})
        conn.commit()


def _run_alembic(conn: sa.Connection, context: Mapping[str, Any]) -> None:
    # Imported here: Alembic is only needed when the schema changes (saves ~60 ms a run).
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes.update(context)
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _PG_LOCK_ID})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_LOCK_ID})
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with Path(f"{database}.migrate-lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
