"""The warm pool's ready containers, and workspaces found by their container.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_members",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("container_id", sa.String(128), nullable=False, unique=True),
        sa.Column("volume", sa.String(80)),
        sa.Column("spec", sa.String(32), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_workspaces_container_id", "workspaces", ["container_id"])


def downgrade() -> None:
    op.drop_index("ix_workspaces_container_id", "workspaces")
    op.drop_table("pool_members")
