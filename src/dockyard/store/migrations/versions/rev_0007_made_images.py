"""Images this installation made itself, by id: what gc may remove as its own.

gc used to take an image for dockyard's when it carried dockyard's labels; images built
FROM the workspace image or committed from its containers by anyone inherit those
labels, so other people's images (another installation's snapshots among them) could be
planned for removal. From 0007 gc removes only images recorded here (checkpoint
commits) or named by ``gc.image_prefixes``. The image checkpoints on record are this
installation's own commits: they are recorded here at once.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.store.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    made = op.create_table(
        "made_images",
        sa.Column("image_id", sa.String(128), primary_key=True),
        sa.Column("made_at", UTCDateTime, nullable=False),
    )
    checkpoints = sa.table(
        "checkpoints",
        sa.column("kind", sa.String),
        sa.column("ref", sa.String),
        sa.column("created_at", UTCDateTime),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(checkpoints.c.ref, sa.func.min(checkpoints.c.created_at))
        .where(checkpoints.c.kind == "image", checkpoints.c.ref.is_not(None))
        .group_by(checkpoints.c.ref)
    ).all()
    if rows:
        op.bulk_insert(made, [{"image_id": ref, "made_at": at} for ref, at in rows])


def downgrade() -> None:
    op.drop_table("made_images")
