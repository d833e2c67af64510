"""Table definitions (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are stored as UTC epoch seconds in a float column: cheap to compare and index on
both databases, and free of the naive/aware datetime traps of SQLite. ``UTCDateTime``
converts at the boundary so the rest of the code sees aware ``datetime`` objects.

The schema changes only through Alembic migrations (``store/migrations``);
``SCHEMA_REVISION`` names the newest one so that opening an up-to-date store does not
have to load Alembic at all (a test checks it matches the migrations' head).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from dockyard.store.revision import SCHEMA_REVISION

__all__ = ["SCHEMA_REVISION", "UTCDateTime", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as epoch seconds."""

    impl = sa.Float(precision=53)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> float | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.timestamp()

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        return None if value is None else datetime.fromtimestamp(float(value), UTC)


metadata = sa.MetaData()

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("volume", sa.String(80), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False, index=True),
    sa.Column("image", sa.String(512), nullable=False),
    sa.Column("memory_bytes", sa.BigInteger, nullable=False),
    sa.Column("nano_cpus", sa.BigInteger, nullable=False),
    sa.Column("pids", sa.Integer, nullable=False),
    sa.Column("repo", sa.String(2048)),
    sa.Column("branch", sa.String(255)),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("keep", sa.Boolean, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("overrides", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text),
    sa.Column("container_id", sa.String(128), index=True),
    sa.Column("engine", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("state_changed_at", UTCDateTime, nullable=False),
    sa.Column("last_activity_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("extended_until", UTCDateTime),
    sa.Column("warned_deadline", UTCDateTime),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("checkpoint_id", sa.String(64)),
    sa.Column("save_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disk_bytes", sa.BigInteger),
    sa.Column("disk_warned", sa.Boolean, nullable=False, server_default=sa.false()),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("workspace_key", sa.String(255), nullable=False, index=True),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("ref", sa.String(255)),
    sa.Column("location", sa.String(4096)),
    sa.Column("commit", sa.String(64)),
    sa.Column("branch", sa.String(255)),
    sa.Column("files_changed", sa.Integer),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "workspace_key",
        sa.String(255),
        sa.ForeignKey("workspaces.key", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used", UTCDateTime, nullable=False),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("closed_reason", sa.String(16)),
    sa.Column("running_since", UTCDateTime),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("workspace_key", sa.String(255), index=True),
    sa.Column("owner", sa.String(255)),
    sa.Column("data", sa.JSON, nullable=False),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

image_use = sa.Table(
    "image_use",
    metadata,
    sa.Column("image_id", sa.String(128), primary_key=True),
    sa.Column("last_used_at", UTCDateTime, nullable=False),
)

#: Images this installation made itself (checkpoint commits): the only ones gc may take
#: for its own. A label cannot say so: images built FROM ours or committed from our
#: containers by anyone inherit every label.
made_images = sa.Table(
    "made_images",
    metadata,
    sa.Column("image_id", sa.String(128), primary_key=True),
    sa.Column("made_at", UTCDateTime, nullable=False),
)

#: The engines of the fleet by name: the daemon identity on record (``seen_id``: another
#: one answered at that name and waits for an operator's confirmation) and draining.
engines = sa.Table(
    "engines",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("daemon_id", sa.String(255), nullable=False),
    sa.Column("seen_id", sa.String(255)),
    sa.Column("draining", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("owner", sa.String(255)),  # NULL: an admin token
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False, index=True),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
)

#: The warm pool's ready containers: a row while a member waits; taking it deletes the
#: row in the transaction that writes the workspace's record (``container_id``).
pool_members = sa.Table(
    "pool_members",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("container_id", sa.String(128), nullable=False, unique=True),
    sa.Column("volume", sa.String(80)),
    sa.Column("spec", sa.String(32), nullable=False),
    sa.Column("image", sa.String(512), nullable=False),
    sa.Column("engine", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
