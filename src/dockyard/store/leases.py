"""Lease rows: a name, its holder and when it expires. The lease protocol (waiting,
renewing, taking over from a dead holder) is the service's; these are its atomic steps."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import locks


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    def try_take(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or renew) the lease ``name`` for ``holder`` unless someone else holds it."""
        with self._db.write() as conn:
            conn.execute(
                self._db.insert_ignore(locks).values(name=name, holder=holder, expires_at=until)
            )
            result = conn.execute(
                locks.update()
                .where(
                    locks.c.name == name,
                    sa.or_(locks.c.holder == holder, locks.c.expires_at < now),
                )
                .values(holder=holder, expires_at=until)
            )
            return result.rowcount == 1

    def take_over(self, name: str, *, previous: str, holder: str, until: datetime) -> bool:
        """Take the lease from ``previous`` (known dead) if it still holds it."""
        with self._db.write() as conn:
            result = conn.execute(
                locks.update()
                .where(locks.c.name == name, locks.c.holder == previous)
                .values(holder=holder, expires_at=until)
            )
            return result.rowcount == 1

    def release(self, name: str, *, holder: str) -> None:
        with self._db.write() as conn:
            conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))

    def holder(self, name: str) -> tuple[str, datetime] | None:
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(locks.c.holder, locks.c.expires_at).where(locks.c.name == name)
            ).first()
        return None if row is None else (row.holder, row.expires_at)
