"""Workspaces record their disk cap (the size of their volume's own file system) and
whether their disk use was last seen past the warning threshold.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("disk_bytes", sa.BigInteger))
        batch.add_column(
            sa.Column("disk_warned", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("disk_warned")
        batch.drop_column("disk_bytes")
