"""Sessions say why they ended, and when the command in flight started.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("closed_reason", sa.String(16)))
        batch.add_column(sa.Column("running_since", UTCDateTime))
    op.create_index("ix_sessions_status", "sessions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_sessions_status", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("running_since")
        batch.drop_column("closed_reason")
