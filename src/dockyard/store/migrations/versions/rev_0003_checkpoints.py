"""Checkpoints: every saved copy of a workspace's work, and the save retry counter.

A workspace record points at its newest checkpoint (``checkpoint_id``); checkpoints
outlive the record's state changes and are deleted only by retention or ``rm --purge``.
No foreign key to ``workspaces``: a checkpoint's files must be deleted before its row,
which the service does explicitly, never a cascade.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("checkpoint_id", sa.String(64)))
        batch.add_column(sa.Column("save_attempts", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "checkpoints",
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


def downgrade() -> None:
    op.drop_table("checkpoints")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("save_attempts")
        batch.drop_column("checkpoint_id")
