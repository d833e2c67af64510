"""The engines of the fleet: each name's daemon identity, and whether it drains.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engines",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("daemon_id", sa.String(255), nullable=False),
        sa.Column("seen_id", sa.String(255)),
        sa.Column("draining", sa.Boolean, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engines")
