"""The event table and the webhook outbox that is filled from it.

Events are rows as dicts (``id``, ``at``, ``type``, ``workspace_key``, ``owner``,
``data``): the fronts render them as they are. The outbox holds one row per event and
receiver until the receiver answered 2xx; it survives restarts.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dockyard.store.db import Database
from dockyard.store.schema import events, outbox


class Events:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(
        self,
        *,
        type: str,  # noqa: A002 - the event's type, as it appears everywhere else
        at: datetime,
        workspace_key: str | None,
        owner: str | None,
        data: Mapping[str, Any],
    ) -> int:
        with self._db.write() as conn:
            result = conn.execute(
                events.insert().values(
                    at=at, type=type, workspace_key=workspace_key, owner=owner, data=dict(data)
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        workspace_key: str | None = None,
        owner: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Oldest first, after ``after_id``."""
        query = sa.select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        with self._db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(_filter(query, workspace_key, owner))]

    def latest_id(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)

    def last(
        self, count: int, *, workspace_key: str | None = None, owner: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The newest ``count`` events (matching the filters), oldest first."""
        query = sa.select(events).order_by(events.c.id.desc()).limit(max(count, 0))
        with self._db.read() as conn:
            rows = list(conn.execute(_filter(query, workspace_key, owner)))
        return [dict(row._mapping) for row in reversed(rows)]


def _filter(query: sa.Select[Any], workspace_key: str | None, owner: str | None) -> sa.Select[Any]:
    if workspace_key is not None:
        query = query.where(events.c.workspace_key == workspace_key)
    if owner is not None:
        query = query.where(events.c.owner == owner)
    return query


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(self, rows: Iterable[tuple[int, str]], *, at: datetime) -> None:
        """Queue ``(event_id, url)`` deliveries, due at ``at``."""
        values = [
            {"event_id": event_id, "url": url, "attempts": 0, "next_attempt_at": at}
            for event_id, url in rows
        ]
        if values:
            with self._db.write() as conn:
                conn.execute(outbox.insert(), values)

    def due(self, *, now: datetime, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """Deliveries due by ``now``, each with its event's fields."""
        query = (
            sa.select(
                outbox,
                events.c.type,
                events.c.at,
                events.c.workspace_key,
                events.c.owner,
                events.c.data,
            )
            .join(events, events.c.id == outbox.c.event_id)
            .where(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def done(self, delivery_id: int, *, at: datetime) -> None:
        with self._db.write() as conn:
            conn.execute(outbox.update().where(outbox.c.id == delivery_id).values(delivered_at=at))

    def failed(self, delivery_id: int, *, attempts: int, retry_at: datetime, error: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == delivery_id)
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:500])
            )

    def list(self) -> builtins.list[dict[str, Any]]:
        with self._db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id))]
