"""Checkpoint records, and when dockyard last ran a container from each image.

Image use is kept because the engine only knows when an image was built, not when it
was last used; gc measures an image's age from its last use.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy
from dockyard.store.db import Database
from dockyard.store.schema import checkpoints, image_use, made_images, workspaces

_NEWEST_FIRST = (checkpoints.c.created_at.desc(), checkpoints.c.id.desc())


class Checkpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, checkpoint: Checkpoint) -> None:
        with self._db.write() as conn:
            conn.execute(checkpoints.insert().values(**_checkpoint_row(checkpoint)))

    def update(self, checkpoint: Checkpoint) -> None:
        with self._db.write() as conn:
            conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == checkpoint.id)
                .values(**_checkpoint_row(checkpoint))
            )

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
            ).first()
        return None if row is None else _checkpoint(row._mapping)

    def list(self, *, workspace_key: str | None = None) -> builtins.list[Checkpoint]:
        """Newest first."""
        query = sa.select(checkpoints).order_by(*_NEWEST_FIRST)
        if workspace_key is not None:
            query = query.where(checkpoints.c.workspace_key == workspace_key)
        with self._db.read() as conn:
            return [_checkpoint(row._mapping) for row in conn.execute(query)]

    def due(self, *, by: datetime) -> builtins.list[Checkpoint]:
        """The checkpoints the reconciler can have work for by ``by``: expired by then,
        unverified (a save under way or cut off), or of no workspace. Newest first."""
        query = (
            sa.select(checkpoints)
            .select_from(
                checkpoints.outerjoin(workspaces, workspaces.c.key == checkpoints.c.workspace_key)
            )
            .where(
                sa.or_(
                    checkpoints.c.expires_at <= by,
                    checkpoints.c.verified == sa.false(),
                    workspaces.c.key.is_(None),
                )
            )
            .order_by(*_NEWEST_FIRST)
        )
        with self._db.read() as conn:
            return [_checkpoint(row._mapping) for row in conn.execute(query)]

    def delete(self, checkpoint_id: str) -> None:
        with self._db.write() as conn:
            conn.execute(checkpoints.delete().where(checkpoints.c.id == checkpoint_id))


class ImageUse:
    """When dockyard last ran a container from an image, and which images it made."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def made(self, image_id: str, *, at: datetime) -> None:
        """Record that this installation made ``image_id`` (a checkpoint commit)."""
        with self._db.write() as conn:
            conn.execute(self._db.insert_ignore(made_images).values(image_id=image_id, made_at=at))

    def made_ids(self) -> set[str]:
        with self._db.read() as conn:
            return {str(row.image_id) for row in conn.execute(sa.select(made_images.c.image_id))}

    def record(self, image_id: str, *, at: datetime) -> None:
        """Remember that a container was created or started from ``image_id`` at ``at``."""
        with self._db.write() as conn:
            conn.execute(
                self._db.insert_ignore(image_use).values(image_id=image_id, last_used_at=at)
            )
            conn.execute(
                image_use.update()
                .where(image_use.c.image_id == image_id, image_use.c.last_used_at < at)
                .values(last_used_at=at)
            )

    def all(self) -> dict[str, datetime]:
        with self._db.read() as conn:
            return {row.image_id: row.last_used_at for row in conn.execute(sa.select(image_use))}

    def forget(self, image_id: str) -> None:
        """The image is gone: its use and its making."""
        with self._db.write() as conn:
            conn.execute(image_use.delete().where(image_use.c.image_id == image_id))
            conn.execute(made_images.delete().where(made_images.c.image_id == image_id))


def _checkpoint_row(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "workspace_key": checkpoint.workspace_key,
        "strategy": checkpoint.strategy.value,
        "kind": checkpoint.kind.value,
        "verified": checkpoint.verified,
        "ref": checkpoint.ref,
        "location": checkpoint.location,
        "commit": checkpoint.commit,
        "branch": checkpoint.branch,
        "files_changed": checkpoint.files_changed,
        "size_bytes": checkpoint.size_bytes,
        "detail": checkpoint.detail,
        "created_at": checkpoint.created_at,
        "expires_at": checkpoint.expires_at,
    }


def _checkpoint(row: sa.RowMapping) -> Checkpoint:
    return Checkpoint(
        id=row["id"],
        workspace_key=row["workspace_key"],
        strategy=SaveStrategy(row["strategy"]),
        kind=CheckpointKind(row["kind"]),
        verified=bool(row["verified"]),
        ref=row["ref"],
        location=row["location"],
        commit=row["commit"],
        branch=row["branch"],
        files_changed=row["files_changed"],
        size_bytes=row["size_bytes"],
        detail=row["detail"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )
