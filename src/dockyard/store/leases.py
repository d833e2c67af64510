"""Lease rows: a name, its holder and when it expires. The lease protocol (waiting,
renewing, taking over from a dead holder) is the service's; these are its atomic steps.

Expiry is measured on the database's clock (``db_now``), the one clock every manager
shares: a manager whose own clock runs fast must not think a live lease expired."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import locks

#: The current time on the database's clock, as epoch seconds.
_NOW = {
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
    "postgresql": "SELECT extract(epoch from clock_timestamp())",
}


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    def db_now(self) -> datetime:
        """The time on the database's clock."""
        query = _NOW.get(self._db.dialect)
        if query is None:  # a database we do not know how to ask: this machine's clock
            return datetime.now(UTC)
        with self._db.read() as conn:
            seconds = conn.execute(sa.text(query)).scalar_one()
        return datetime.fromtimestamp(float(seconds), UTC)

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

    def held(self, prefix: str, *, now: datetime) -> list[tuple[str, str]]:
        """The unexpired leases whose names start with ``prefix``: (name, holder)."""
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(locks.c.name, locks.c.holder).where(
                    locks.c.name.startswith(prefix, autoescape=True), locks.c.expires_at >= now
                )
            ).all()
        return [(row.name, row.holder) for row in rows]

    def purge_expired(self, prefix: str, *, now: datetime) -> int:
        """Delete the expired leases whose names start with ``prefix``; how many went."""
        with self._db.write() as conn:
            result = conn.execute(
                locks.delete().where(
                    locks.c.name.startswith(prefix, autoescape=True), locks.c.expires_at < now
                )
            )
        return max(result.rowcount, 0)
