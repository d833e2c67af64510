"""Initial schema: workspaces, sessions, events, locks, meta.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
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
        sa.Column("container_id", sa.String(128)),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("state_changed_at", UTCDateTime, nullable=False),
        sa.Column("last_activity_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("extended_until", UTCDateTime),
        sa.Column("warned_deadline", UTCDateTime),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "workspace_key",
            sa.String(255),
            sa.ForeignKey("workspaces.key", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_used", UTCDateTime, nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("workspace_key", sa.String(255), index=True),
        sa.Column("owner", sa.String(255)),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "locks", "events", "sessions", "workspaces"):
        op.drop_table(table)
