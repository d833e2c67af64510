"""Image use: when dockyard last created or started a container from each image.

``gc --images`` removes the least recently used images first; the engine keeps no such
record (an image's only date is when it was built), so dockyard keeps its own.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_use",
        sa.Column("image_id", sa.String(128), primary_key=True),
        sa.Column("last_used_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_use")
