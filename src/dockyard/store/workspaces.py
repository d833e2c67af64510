"""Workspace records: compare-and-set writes, the working set, and the touch hot path.

State changes are compare-and-set (``expect_state``, optionally ``expect_revision``),
which is what lets the reconciler and a request race safely: whoever changes the row
first wins, the other re-reads. Every write bumps ``revision``.

A touch is the agents' hot path: ``record_activity`` answers a touch within
``coalesce`` of the last one this process recorded for a workspace from memory. Every
write of a workspace's record by this process (sessions included: they touch it)
forgets that memory before and after its transaction, so only a change made by another
process within ``coalesce`` can go unseen.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dockyard.core.errors import Conflict
from dockyard.core.model import (
    ACTIVE_STATES,
    CONTAINERLESS_STATES,
    PolicyOverrides,
    Resources,
    SaveStrategy,
    State,
    Workspace,
)
from dockyard.store.db import Database
from dockyard.store.schema import UTCDateTime, pool_members, sessions, workspaces

#: At most this many workspaces remembered by ``record_activity`` (then it starts over).
_RECENT_LIMIT = 4096


class Workspaces:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Workspaces as this process last recorded activity on them (``record_activity``),
        # and a counter of writes that makes a racing touch not cache what it read.
        self._recent: dict[str, Workspace] = {}
        self._recent_lock = threading.Lock()
        self._writes = 0

    def get(self, key: str) -> Workspace | None:
        with self._db.read() as conn:
            row = conn.execute(_GET, {"key": key}).first()
        return None if row is None else _workspace(row._mapping)

    def list(
        self, *, owner: str | None = None, states: Iterable[State] | None = None
    ) -> builtins.list[Workspace]:
        query = sa.select(workspaces).order_by(workspaces.c.created_at, workspaces.c.key)
        if owner is not None:
            query = query.where(workspaces.c.owner == owner)
        if states is not None:
            query = query.where(workspaces.c.state.in_([s.value for s in states]))
        with self._db.read() as conn:
            return [_workspace(row._mapping) for row in conn.execute(query)]

    def working_set(
        self, *, keys: Collection[str] = (), names: Collection[str] = ()
    ) -> builtins.list[Workspace]:
        """The records the reconciler can have work for: every one not at rest (parked,
        removed, expired) and, whatever their state, those of ``keys`` and ``names`` (the
        workspaces that still have a container or a checkpoint to look after). A pass
        costs what is live, not what the history holds."""
        wanted = [workspaces.c.state.not_in([s.value for s in CONTAINERLESS_STATES])]
        if keys:
            wanted.append(workspaces.c.key.in_(list(keys)))
        if names:
            wanted.append(workspaces.c.name.in_(list(names)))
        query = sa.select(workspaces).where(sa.or_(*wanted))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(workspaces.c.created_at, workspaces.c.key))
            return [_workspace(row._mapping) for row in rows]

    def load_by_engine(self) -> dict[str, int]:
        """How many workspaces that have (or are getting) a container each engine holds."""
        query = (
            sa.select(workspaces.c.engine, sa.func.count())
            .where(workspaces.c.state.not_in([s.value for s in CONTAINERLESS_STATES]))
            .group_by(workspaces.c.engine)
        )
        with self._db.read() as conn:
            return {str(name): int(count) for name, count in conn.execute(query)}

    def insert(self, ws: Workspace) -> None:
        """Add a new record; ``Conflict`` if the key or the name is taken."""
        with self.writing(ws.key) as conn:
            conn.execute(workspaces.insert().values(**_workspace_row(ws)))

    def insert_many(self, records: Iterable[Workspace]) -> None:
        """Add new records in one transaction (an import, a benchmark's history)."""
        rows = [_workspace_row(ws) for ws in records]
        if rows:
            with self._db.write() as conn:
                conn.execute(workspaces.insert(), rows)

    def insert_from_pool(self, ws: Workspace, *, member: str, reuse: bool) -> bool:
        """Write ``ws`` (its ``container_id`` a pool member's) and delete the member's row,
        in one transaction: False, with nothing written, if the member was taken or
        dropped meanwhile. ``reuse``: the key's record is removed or expired and is
        overwritten (``Conflict`` if it changed meanwhile); else a new record."""
        with self.writing(ws.key) as conn:
            taken = conn.execute(pool_members.delete().where(pool_members.c.name == member))
            if taken.rowcount != 1:
                return False
            if not reuse:
                conn.execute(workspaces.insert().values(**_workspace_row(ws)))
                return True
            if conn.execute(_replacing_removed(ws)).rowcount != 1:
                raise Conflict(f"workspace {ws.key!r} changed while it was being created")
            return True

    def keys_of_containers(self, container_ids: Collection[str]) -> dict[str, str]:
        """Container id -> key, of the records that hold those containers."""
        if not container_ids:
            return {}
        query = sa.select(workspaces.c.container_id, workspaces.c.key).where(
            workspaces.c.container_id.in_(list(container_ids)),
            workspaces.c.state.not_in([s.value for s in CONTAINERLESS_STATES]),
        )
        with self._db.read() as conn:
            return {str(cid): str(key) for cid, key in conn.execute(query)}

    def keys_of_volumes(self, volumes: Collection[str]) -> dict[str, str]:
        """Volume name -> key, of the records (any state) whose work is on those volumes."""
        if not volumes:
            return {}
        query = sa.select(workspaces.c.volume, workspaces.c.key).where(
            workspaces.c.volume.in_(list(volumes))
        )
        with self._db.read() as conn:
            return {str(volume): str(key) for volume, key in conn.execute(query)}

    def replace_removed(self, ws: Workspace) -> bool:
        """Overwrite a record only if it is ``removed`` or ``expired`` (a key reused)."""
        with self.writing(ws.key) as conn:
            return conn.execute(_replacing_removed(ws)).rowcount == 1

    def save(
        self, ws: Workspace, *, expect_state: State, expect_revision: int | None = None
    ) -> bool:
        """Write ``ws`` if the stored state is still ``expect_state`` (and, if given, the
        revision still ``expect_revision``); False if the record moved on meanwhile."""
        query = workspaces.update().where(
            workspaces.c.key == ws.key, workspaces.c.state == expect_state.value
        )
        if expect_revision is not None:
            query = query.where(workspaces.c.revision == expect_revision)
        values = _workspace_row(ws) | {"revision": workspaces.c.revision + 1}
        with self.writing(ws.key) as conn:
            return conn.execute(query.values(**values)).rowcount == 1

    def mark_disk_warned(self, key: str, *, warned: bool) -> bool:
        """Record whether a live workspace's disk use is past its warning threshold, if
        that is news: True only for the one writer that changed it (so exactly one
        warns, whichever replicas look). The revision is left alone: a monitoring flag
        never makes a lifecycle operation's compare-and-set fail."""
        query = (
            workspaces.update()
            .where(
                workspaces.c.key == key,
                workspaces.c.disk_warned == (not warned),
                workspaces.c.state.in_([s.value for s in ACTIVE_STATES]),
            )
            .values(disk_warned=warned)
        )
        with self.writing(key) as conn:
            return conn.execute(query).rowcount == 1

    def delete(self, key: str) -> None:
        """Delete the record and its sessions."""
        with self.writing(key) as conn:
            conn.execute(sessions.delete().where(sessions.c.workspace_key == key))
            conn.execute(workspaces.delete().where(workspaces.c.key == key))

    def touch(self, key: str, *, at: datetime) -> bool:
        """Record activity on a running workspace; a warned one is running again.

        Returns False if the workspace is not running (or warned), so the caller knows
        the activity did not land. Never moves ``last_activity_at`` backwards.
        """
        with self.writing(key) as conn:
            return touch_in(conn, key, at=at)

    def record_activity(
        self, key: str, *, at: datetime, coalesce: timedelta, owner: str | None = None
    ) -> Workspace | None:
        """The hot path of ``touch``: like ``touch`` (of ``owner``'s workspace only, if
        given), in one statement, returning the workspace as recorded; None if it is not
        running (or warned, or not ``owner``'s). Activity within ``coalesce`` after the
        last this process recorded on the workspace is not written again."""
        recent = self.recent_activity(key, at=at, coalesce=coalesce, owner=owner)
        if recent is not None:
            return recent
        writes = self._writes
        query = _RECORD_ACTIVITY if owner is None else _RECORD_ACTIVITY_OF_OWNER
        with self._db.write() as conn:
            row = conn.execute(query, {"b_key": key, "b_at": at, "b_owner": owner}).first()
        if row is None:
            return None
        ws = _workspace(row._mapping)
        with self._recent_lock:
            if self._writes == writes:
                if len(self._recent) >= _RECENT_LIMIT:
                    self._recent.clear()
                self._recent[key] = ws
        return ws

    def recent_activity(
        self, key: str, *, at: datetime, coalesce: timedelta, owner: str | None = None
    ) -> Workspace | None:
        """What ``record_activity`` would answer without writing, if that is all it would
        do; otherwise None. No I/O: an event loop may call it."""
        recent = self._recent.get(key)
        if (
            recent is not None
            and (owner is None or recent.owner == owner)
            and timedelta(0) <= at - recent.last_activity_at < coalesce
        ):
            return recent
        return None

    @contextmanager
    def writing(self, key: str) -> Iterator[sa.Connection]:
        """A write transaction on the record ``key``, one at a time per record (a count
        then an insert, as the session limit does, must not interleave): SQLite's
        ``BEGIN IMMEDIATE`` serializes every writer; PostgreSQL locks the row. What
        ``record_activity`` remembers of the workspace is forgotten before it begins (no
        answer from memory while it runs) and once it is over (committed or not)."""
        self._forget(key)
        try:
            with self._db.write() as conn:
                if self._db.dialect == "postgresql":
                    conn.execute(_LOCK_ROW, {"key": key})
                yield conn
        finally:
            self._forget(key)

    def _forget(self, key: str) -> None:
        with self._recent_lock:
            self._writes += 1
            self._recent.pop(key, None)


def _replacing_removed(ws: Workspace) -> sa.Update:
    """The overwrite of ``ws``'s record if it is ``removed`` or ``expired``."""
    return (
        workspaces.update()
        .where(
            workspaces.c.key == ws.key,
            workspaces.c.state.in_([State.REMOVED.value, State.EXPIRED.value]),
        )
        .values(**_workspace_row(ws), revision=workspaces.c.revision + 1)
    )


def touch_in(conn: sa.Connection, key: str, *, at: datetime) -> bool:
    """``touch`` inside a transaction someone else opened (a session's use)."""
    return conn.execute(_TOUCH, {"b_key": key, "b_at": at}).rowcount == 1


# -- prepared statements of the hot paths ----------------------------------------------------

_GET = sa.select(workspaces).where(workspaces.c.key == sa.bindparam("key"))
_LOCK_ROW = (
    sa.select(workspaces.c.key).where(workspaces.c.key == sa.bindparam("key")).with_for_update()
)
_TOUCH = (
    workspaces.update()
    .where(
        workspaces.c.key == sa.bindparam("b_key"),
        workspaces.c.state.in_([s.value for s in ACTIVE_STATES]),
    )
    .values(
        last_activity_at=sa.case(
            (
                workspaces.c.last_activity_at < sa.bindparam("b_at", type_=UTCDateTime),
                sa.bindparam("b_at", type_=UTCDateTime),
            ),
            else_=workspaces.c.last_activity_at,
        ),
        state=State.RUNNING.value,
        warned_deadline=None,
        revision=workspaces.c.revision + 1,
    )
)
_RECORD_ACTIVITY = _TOUCH.returning(*workspaces.c)
_RECORD_ACTIVITY_OF_OWNER = _TOUCH.where(workspaces.c.owner == sa.bindparam("b_owner")).returning(
    *workspaces.c
)


# -- rows <-> models ------------------------------------------------------------------------


def _workspace_row(ws: Workspace) -> dict[str, Any]:
    return {
        "key": ws.key,
        "name": ws.name,
        "volume": ws.volume,
        "owner": ws.owner,
        "image": ws.image,
        "memory_bytes": ws.resources.memory_bytes,
        "nano_cpus": ws.resources.nano_cpus,
        "pids": ws.resources.pids,
        "disk_bytes": ws.resources.disk_bytes,
        "repo": ws.repo,
        "branch": ws.branch,
        "strategy": ws.strategy.value,
        "keep": ws.keep,
        "labels": dict(ws.labels),
        "overrides": ws.overrides.as_seconds(),
        "state": ws.state.value,
        "reason": ws.reason,
        "container_id": ws.container_id,
        "engine": ws.engine,
        "created_at": ws.created_at,
        "state_changed_at": ws.state_changed_at,
        "last_activity_at": ws.last_activity_at,
        "started_at": ws.started_at,
        "extended_until": ws.extended_until,
        "warned_deadline": ws.warned_deadline,
        "checkpoint_id": ws.checkpoint_id,
        "save_attempts": ws.save_attempts,
        "disk_warned": ws.disk_warned,
    }


def _workspace(row: sa.RowMapping) -> Workspace:
    return Workspace(
        key=row["key"],
        name=row["name"],
        volume=row["volume"],
        owner=row["owner"],
        image=row["image"],
        resources=Resources(
            memory_bytes=row["memory_bytes"],
            nano_cpus=row["nano_cpus"],
            pids=row["pids"],
            disk_bytes=row["disk_bytes"],
        ),
        state=State(row["state"]),
        created_at=row["created_at"],
        state_changed_at=row["state_changed_at"],
        last_activity_at=row["last_activity_at"],
        repo=row["repo"],
        branch=row["branch"],
        strategy=SaveStrategy(row["strategy"]),
        keep=bool(row["keep"]),
        labels=dict(row["labels"] or {}),
        overrides=PolicyOverrides.from_seconds(row["overrides"] or {}),
        reason=row["reason"],
        container_id=row["container_id"],
        engine=row["engine"],
        started_at=row["started_at"],
        extended_until=row["extended_until"],
        warned_deadline=row["warned_deadline"],
        checkpoint_id=row["checkpoint_id"],
        save_attempts=row["save_attempts"],
        disk_warned=bool(row["disk_warned"]),
        revision=row["revision"],
    )
