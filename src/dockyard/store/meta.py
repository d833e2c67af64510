"""Small named values of the installation (its id, cursors, settings set at run time)."""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import meta


class Meta:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        with self._db.read() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        with self._db.write() as conn:
            conn.execute(self._db.insert_ignore(meta).values(key=key, value=value))
            conn.execute(meta.update().where(meta.c.key == key).values(value=value))

    def replace(self, key: str, *, expected: str | None, value: str) -> bool:
        """Set ``key`` to ``value`` only if it is still ``expected`` (None: unset), in one
        transaction: of two processes making the same claim, one wins."""
        with self._db.write() as conn:
            if expected is None:
                return self._db.insert_if_absent(conn, meta, key=key, value=value)
            result = conn.execute(
                meta.update().where(meta.c.key == key, meta.c.value == expected).values(value=value)
            )
            return result.rowcount == 1

    def delete(self, key: str) -> None:
        with self._db.write() as conn:
            conn.execute(meta.delete().where(meta.c.key == key))
