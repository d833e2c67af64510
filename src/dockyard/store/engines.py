"""Engine records: the daemon identity each engine name stands for, and draining.

The first identity seen under a name is recorded by whichever manager sees it first (an
insert-if-absent: of two replicas, one wins and the other reads the winner's). A
different identity later is written beside it (``seen_id``), never over it, until an
operator confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import engines


@dataclass(frozen=True, slots=True)
class EngineRecord:
    name: str
    daemon_id: str
    seen_id: str | None  # another daemon answered under this name: refused until confirmed
    draining: bool
    recorded_at: datetime


class Engines:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str) -> EngineRecord | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(engines).where(engines.c.name == name)).first()
        return None if row is None else EngineRecord(**row._mapping)

    def list(self) -> list[EngineRecord]:
        with self._db.read() as conn:
            rows = conn.execute(sa.select(engines).order_by(engines.c.name)).all()
        return [EngineRecord(**row._mapping) for row in rows]

    def record(self, name: str, *, daemon_id: str, at: datetime) -> EngineRecord:
        """Record ``daemon_id`` for ``name`` unless one is on record; the record now."""
        with self._db.write() as conn:
            self._db.insert_if_absent(
                conn, engines, name=name, daemon_id=daemon_id, draining=False, recorded_at=at
            )
            row = conn.execute(sa.select(engines).where(engines.c.name == name)).one()
        return EngineRecord(**row._mapping)

    def saw(self, name: str, *, seen_id: str | None) -> None:
        """Note the other identity seen under ``name`` (None: the recorded one again)."""
        with self._db.write() as conn:
            conn.execute(
                engines.update()
                .where(engines.c.name == name, engines.c.seen_id.is_distinct_from(seen_id))
                .values(seen_id=seen_id)
            )

    def confirm(self, name: str, *, daemon_id: str, at: datetime) -> bool:
        """``daemon_id`` is now ``name``'s daemon (an operator said so); whether the
        engine is on record."""
        with self._db.write() as conn:
            result = conn.execute(
                engines.update()
                .where(engines.c.name == name)
                .values(daemon_id=daemon_id, seen_id=None, recorded_at=at)
            )
        return result.rowcount == 1

    def set_draining(self, name: str, *, draining: bool) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                engines.update().where(engines.c.name == name).values(draining=draining)
            )
        return result.rowcount == 1
