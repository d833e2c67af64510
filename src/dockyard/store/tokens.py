"""API token records: an id, the SHA-256 of the token (never the token), an owner
(None for an admin token) and a description."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import tokens


class Tokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, *, token_id: str, token_hash: str, owner: str | None, description: str, at: datetime
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                tokens.insert().values(
                    id=token_id,
                    hash=token_hash,
                    owner=owner,
                    description=description,
                    created_at=at,
                )
            )

    def find(self, token_hash: str) -> tuple[str, str | None] | None:
        """``(id, owner)`` of the token with this hash (owner None: admin), or None."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(tokens.c.id, tokens.c.owner).where(tokens.c.hash == token_hash)
            ).first()
        return None if row is None else (row.id, row.owner)

    def list(self) -> list[dict[str, Any]]:
        """``id``, ``owner``, ``description`` and ``created_at`` of each, oldest first."""
        query = sa.select(tokens.c.id, tokens.c.owner, tokens.c.description, tokens.c.created_at)
        with self._db.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(tokens.c.created_at))]

    def delete(self, token_id: str) -> bool:
        with self._db.write() as conn:
            return conn.execute(tokens.delete().where(tokens.c.id == token_id)).rowcount == 1
