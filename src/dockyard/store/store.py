"""The store: workspace records, sessions, events, leases; SQLite or PostgreSQL.

One ``Store`` per process wraps a SQLAlchemy engine. Every method is one short
transaction; writes that read first use ``BEGIN IMMEDIATE`` on SQLite so that concurrent
processes queue on the busy timeout instead of failing with "database is locked".
State changes are compare-and-set (``expect_state``), which is what lets the reconciler
and a request race safely: whoever changes the row first wins, the other re-reads.

Database errors are translated here, once: cannot open or reach the database is
``StoreUnavailable``; anything else is ``StoreError``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite

from dockyard.core.errors import Conflict, QuotaExceeded, StoreError, StoreUnavailable
from dockyard.core.model import (
    ACTIVE_STATES,
    Checkpoint,
    CheckpointKind,
    PolicyOverrides,
    Resources,
    SaveStrategy,
    Session,
    SessionKind,
    SessionStatus,
    State,
    Workspace,
)
from dockyard.core.planner import CONTAINERLESS_STATES
from dockyard.store import migrate
from dockyard.store.schema import (
    UTCDateTime,
    checkpoints,
    events,
    image_use,
    locks,
    meta,
    outbox,
    sessions,
    tokens,
    workspaces,
)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def redact_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


class Store:
    """Records of one dockyard installation."""

    def __init__(self, engine: sa.Engine, *, installation_id: str) -> None:
        self._engine = engine
        self.installation_id = installation_id
        self.url = engine.url.render_as_string(hide_password=True)
        # Workspaces as this process last recorded activity on them (``record_activity``),
        # and a counter of writes that makes a racing touch not cache what it read.
        self._recent: dict[str, Workspace] = {}
        self._recent_lock = threading.Lock()
        self._writes = 0

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating and migrating if needed) the database at ``url``."""
        engine = _create_engine(url)
        try:
            migrate.upgrade(engine)
            installation = _ensure_installation_id(engine)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(
                f"cannot open the store at {redact_url(url)}: {_db_reason(exc)}"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"store at {redact_url(url)}: {_db_reason(exc)}") from exc
        return cls(engine, installation_id=installation)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"store unavailable: {_db_reason(exc)}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store error: {_db_reason(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as raw:
                conn = raw.execution_options(dockyard_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"conflicting record: {_db_reason(exc)}") from exc
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"store unavailable: {_db_reason(exc)}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store error: {_db_reason(exc)}") from exc

    def ping(self) -> str:
        """Check the database answers; returns its schema revision."""
        with self._read() as conn:
            return migrate.current_revision(conn) or "none"

    # -- workspaces ---------------------------------------------------------------------

    def get(self, key: str) -> Workspace | None:
        with self._read() as conn:
            row = conn.execute(_GET_WORKSPACE, {"key": key}).first()
        return None if row is None else _workspace(row._mapping)

    def list_workspaces(
        self, *, owner: str | None = None, states: Iterable[State] | None = None
    ) -> list[Workspace]:
        query = sa.select(workspaces).order_by(workspaces.c.created_at, workspaces.c.key)
        if owner is not None:
            query = query.where(workspaces.c.owner == owner)
        if states is not None:
            query = query.where(workspaces.c.state.in_([s.value for s in states]))
        with self._read() as conn:
            return [_workspace(row._mapping) for row in conn.execute(query)]

    def list_working_set(
        self, *, keys: Collection[str] = (), names: Collection[str] = ()
    ) -> list[Workspace]:
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
        with self._read() as conn:
            rows = conn.execute(query.order_by(workspaces.c.created_at, workspaces.c.key))
            return [_workspace(row._mapping) for row in rows]

    def insert(self, ws: Workspace) -> None:
        """Add a new record; ``Conflict`` if the key or the name is taken."""
        with self._write_workspace(ws.key) as conn:
            conn.execute(workspaces.insert().values(**_workspace_row(ws)))

    def replace_removed(self, ws: Workspace) -> bool:
        """Overwrite a record only if it is ``removed`` or ``expired`` (a key reused)."""
        with self._write_workspace(ws.key) as conn:
            result = conn.execute(
                workspaces.update()
                .where(
                    workspaces.c.key == ws.key,
                    workspaces.c.state.in_([State.REMOVED.value, State.EXPIRED.value]),
                )
                .values(**_workspace_row(ws), revision=workspaces.c.revision + 1)
            )
            return result.rowcount == 1

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
        with self._write_workspace(ws.key) as conn:
            return conn.execute(query.values(**values)).rowcount == 1

    def delete(self, key: str) -> None:
        with self._write_workspace(key) as conn:
            conn.execute(sessions.delete().where(sessions.c.workspace_key == key))
            conn.execute(workspaces.delete().where(workspaces.c.key == key))

    def touch(self, key: str, *, at: datetime) -> bool:
        """Record activity on a running workspace; a warned one is running again.

        Returns False if the workspace is not running (or warned), so the caller knows
        the activity did not land. Never moves ``last_activity_at`` backwards.
        """
        with self._write_workspace(key) as conn:
            return conn.execute(_TOUCH_WORKSPACE, {"b_key": key, "b_at": at}).rowcount == 1

    def record_activity(
        self, key: str, *, at: datetime, coalesce: timedelta, owner: str | None = None
    ) -> Workspace | None:
        """The hot path of ``touch``: like ``touch`` (of ``owner``'s workspace only, if
        given), in one statement, returning the workspace as recorded; None if it is not
        running (or warned, or not ``owner``'s).

        Activity within ``coalesce`` after the last this process recorded on the
        workspace is not written again: the answer is the record as written then. Every
        write of the workspace by this process forgets that, so only a change made by
        another process within ``coalesce`` can go unseen (a touch racing a park there).
        """
        recent = self.recent_activity(key, at=at, coalesce=coalesce, owner=owner)
        if recent is not None:
            return recent
        writes = self._writes
        query = _RECORD_ACTIVITY if owner is None else _RECORD_ACTIVITY_OF_OWNER
        with self._write() as conn:
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
    def _write_workspace(self, key: str) -> Iterator[sa.Connection]:
        """A write transaction on the record ``key``: what ``record_activity`` remembers
        of the workspace is forgotten before it begins (no answer from memory while it
        runs) and once it is over (committed or not: no racing touch's answer stays)."""
        self._forget(key)
        try:
            with self._write() as conn:
                yield conn
        finally:
            self._forget(key)

    def _forget(self, key: str) -> None:
        with self._recent_lock:
            self._writes += 1
            self._recent.pop(key, None)

    # -- sessions -----------------------------------------------------------------------

    def open_session(
        self,
        *,
        workspace_key: str,
        kind: SessionKind,
        holder: str,
        at: datetime,
        description: str = "",
        limit: int | None = None,
    ) -> Session:
        """Open a session, which is activity on its workspace; ``QuotaExceeded`` if the
        workspace already has ``limit`` live ones."""
        session = Session(
            id=secrets.token_hex(8),
            workspace_key=workspace_key,
            kind=kind,
            status=SessionStatus.ACTIVE,
            created_at=at,
            last_used=at,
            holder=holder,
            description=description[:255],
        )
        with self._write_workspace(workspace_key) as conn:
            if limit is not None:
                live = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(sessions)
                    .where(
                        sessions.c.workspace_key == workspace_key,
                        sessions.c.status == SessionStatus.ACTIVE.value,
                    )
                ).scalar_one()
                if live >= limit:
                    raise QuotaExceeded(
                        f"workspace {workspace_key!r} has {live} live sessions, "
                        f"the limit is {limit}; close one first"
                    )
            conn.execute(
                sessions.insert().values(
                    id=session.id,
                    workspace_key=workspace_key,
                    kind=kind.value,
                    status=session.status.value,
                    created_at=at,
                    last_used=at,
                    holder=holder,
                    description=session.description,
                )
            )
            conn.execute(_TOUCH_WORKSPACE, {"b_key": workspace_key, "b_at": at})
        return session

    def get_session(self, session_id: str) -> Session | None:
        with self._read() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
        return None if row is None else _session(row._mapping)

    def use_session(
        self, session_id: str, *, workspace_key: str, at: datetime, holder: str
    ) -> bool:
        """Record a use of a live or detached session of ``workspace_key`` (reattaching
        it to ``holder``), which is activity on the workspace; False if it is closed."""
        with self._write_workspace(workspace_key) as conn:
            result = conn.execute(
                sessions.update()
                .where(
                    sessions.c.id == session_id,
                    sessions.c.workspace_key == workspace_key,
                    sessions.c.status != SessionStatus.DEAD.value,
                )
                .values(status=SessionStatus.ACTIVE.value, last_used=at, holder=holder)
            )
            if result.rowcount != 1:
                return False
            conn.execute(_TOUCH_WORKSPACE, {"b_key": workspace_key, "b_at": at})
            return True

    def close_session(self, session_id: str, *, workspace_key: str, at: datetime) -> None:
        """Close a session of ``workspace_key``: its last use, activity on the workspace."""
        with self._write_workspace(workspace_key) as conn:
            conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id, sessions.c.workspace_key == workspace_key)
                .values(status=SessionStatus.DEAD.value, last_used=at)
            )
            conn.execute(_TOUCH_WORKSPACE, {"b_key": workspace_key, "b_at": at})

    def set_session_status(self, ids: Iterable[str], status: SessionStatus) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self._write() as conn:
            return conn.execute(
                sessions.update().where(sessions.c.id.in_(ids)).values(status=status.value)
            ).rowcount

    def end_sessions(
        self, *, workspace_key: str | None = None, ids: Iterable[str] | None = None
    ) -> int:
        """Mark the live sessions of a workspace (or the given ones) dead; returns how many."""
        query = sessions.update().where(sessions.c.status != SessionStatus.DEAD.value)
        if workspace_key is not None:
            query = query.where(sessions.c.workspace_key == workspace_key)
        if ids is not None:
            query = query.where(sessions.c.id.in_(list(ids)))
        with self._write() as conn:
            return conn.execute(query.values(status=SessionStatus.DEAD.value)).rowcount

    def list_sessions(
        self, *, workspace_key: str | None = None, statuses: Iterable[SessionStatus] | None = None
    ) -> list[Session]:
        query = sa.select(sessions).order_by(sessions.c.created_at)
        if workspace_key is not None:
            query = query.where(sessions.c.workspace_key == workspace_key)
        if statuses is not None:
            query = query.where(sessions.c.status.in_([s.value for s in statuses]))
        with self._read() as conn:
            return [_session(row._mapping) for row in conn.execute(query)]

    def session_counts(self) -> dict[str, tuple[int, int]]:
        """Per workspace key: (live sessions, all sessions not dead)."""
        query = sa.select(sessions.c.workspace_key, sessions.c.status, sa.func.count()).group_by(
            sessions.c.workspace_key, sessions.c.status
        )
        counts: dict[str, tuple[int, int]] = {}
        with self._read() as conn:
            for key, status, count in conn.execute(query):
                if status == SessionStatus.DEAD.value:
                    continue
                live, total = counts.get(key, (0, 0))
                if status == SessionStatus.ACTIVE.value:
                    live += count
                counts[key] = (live, total + count)
        return counts

    # -- events -------------------------------------------------------------------------

    def append_event(
        self,
        *,
        type: str,  # noqa: A002 - the event's type, as it appears everywhere else
        at: datetime,
        workspace_key: str | None,
        owner: str | None,
        data: Mapping[str, Any],
    ) -> int:
        with self._write() as conn:
            result = conn.execute(
                events.insert().values(
                    at=at, type=type, workspace_key=workspace_key, owner=owner, data=dict(data)
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list_events(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        workspace_key: str | None = None,
        owner: str | None = None,
    ) -> list[dict[str, Any]]:
        query = sa.select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        if workspace_key is not None:
            query = query.where(events.c.workspace_key == workspace_key)
        if owner is not None:
            query = query.where(events.c.owner == owner)
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def latest_event_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0)

    def last_events(
        self, count: int, *, workspace_key: str | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``count`` events (matching the filters), oldest first."""
        query = sa.select(events).order_by(events.c.id.desc()).limit(max(count, 0))
        if workspace_key is not None:
            query = query.where(events.c.workspace_key == workspace_key)
        if owner is not None:
            query = query.where(events.c.owner == owner)
        with self._read() as conn:
            return [dict(row._mapping) for row in reversed(list(conn.execute(query)))]

    # -- checkpoints ----------------------------------------------------------------------

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._write() as conn:
            conn.execute(checkpoints.insert().values(**_checkpoint_row(checkpoint)))

    def update_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._write() as conn:
            conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == checkpoint.id)
                .values(**_checkpoint_row(checkpoint))
            )

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
            ).first()
        return None if row is None else _checkpoint(row._mapping)

    def list_checkpoints(self, *, workspace_key: str | None = None) -> list[Checkpoint]:
        """Newest first."""
        query = sa.select(checkpoints).order_by(
            checkpoints.c.created_at.desc(), checkpoints.c.id.desc()
        )
        if workspace_key is not None:
            query = query.where(checkpoints.c.workspace_key == workspace_key)
        with self._read() as conn:
            return [_checkpoint(row._mapping) for row in conn.execute(query)]

    def checkpoints_due(self, *, by: datetime) -> list[Checkpoint]:
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
            .order_by(checkpoints.c.created_at.desc(), checkpoints.c.id.desc())
        )
        with self._read() as conn:
            return [_checkpoint(row._mapping) for row in conn.execute(query)]

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        with self._write() as conn:
            conn.execute(checkpoints.delete().where(checkpoints.c.id == checkpoint_id))

    # -- image use ------------------------------------------------------------------------

    def record_image_use(self, image_id: str, *, at: datetime) -> None:
        """Remember that a container was created or started from ``image_id`` at ``at``."""
        insert = _insert_ignore(self._engine.dialect.name, image_use)
        with self._write() as conn:
            conn.execute(insert.values(image_id=image_id, last_used_at=at))
            conn.execute(
                image_use.update()
                .where(image_use.c.image_id == image_id, image_use.c.last_used_at < at)
                .values(last_used_at=at)
            )

    def image_uses(self) -> dict[str, datetime]:
        with self._read() as conn:
            return {row.image_id: row.last_used_at for row in conn.execute(sa.select(image_use))}

    def forget_image(self, image_id: str) -> None:
        with self._write() as conn:
            conn.execute(image_use.delete().where(image_use.c.image_id == image_id))

    # -- API tokens -----------------------------------------------------------------------

    def add_token(
        self, *, token_id: str, token_hash: str, owner: str | None, description: str, at: datetime
    ) -> None:
        with self._write() as conn:
            conn.execute(
                tokens.insert().values(
                    id=token_id,
                    hash=token_hash,
                    owner=owner,
                    description=description,
                    created_at=at,
                )
            )

    def find_token(self, token_hash: str) -> tuple[str, str | None] | None:
        """``(id, owner)`` of the token with this hash (owner None: admin), or None."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(tokens.c.id, tokens.c.owner).where(tokens.c.hash == token_hash)
            ).first()
        return None if row is None else (row.id, row.owner)

    def list_tokens(self) -> list[dict[str, Any]]:
        query = sa.select(tokens.c.id, tokens.c.owner, tokens.c.description, tokens.c.created_at)
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(tokens.c.created_at))]

    def delete_token(self, token_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(tokens.delete().where(tokens.c.id == token_id)).rowcount == 1

    # -- webhook outbox --------------------------------------------------------------------

    def enqueue_deliveries(self, rows: Iterable[tuple[int, str]], *, at: datetime) -> None:
        """Queue ``(event_id, url)`` deliveries, due at ``at``."""
        values = [
            {"event_id": event_id, "url": url, "attempts": 0, "next_attempt_at": at}
            for event_id, url in rows
        ]
        if values:
            with self._write() as conn:
                conn.execute(outbox.insert(), values)

    def due_deliveries(self, *, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
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
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def delivery_done(self, delivery_id: int, *, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(outbox.update().where(outbox.c.id == delivery_id).values(delivered_at=at))

    def delivery_failed(
        self, delivery_id: int, *, attempts: int, retry_at: datetime, error: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == delivery_id)
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:500])
            )

    def list_deliveries(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id))]

    # -- small named values -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        insert = _insert_ignore(self._engine.dialect.name, meta)
        with self._write() as conn:
            conn.execute(insert.values(key=key, value=value))
            conn.execute(meta.update().where(meta.c.key == key).values(value=value))

    def delete_meta(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(meta.delete().where(meta.c.key == key))

    # -- leases -------------------------------------------------------------------------

    def try_lease(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or renew) the lease ``name`` for ``holder`` unless someone else holds it."""
        insert = _insert_ignore(self._engine.dialect.name, locks)
        with self._write() as conn:
            conn.execute(insert.values(name=name, holder=holder, expires_at=until))
            result = conn.execute(
                locks.update()
                .where(
                    locks.c.name == name,
                    sa.or_(locks.c.holder == holder, locks.c.expires_at < now),
                )
                .values(holder=holder, expires_at=until)
            )
            return result.rowcount == 1

    def take_over_lease(self, name: str, *, previous: str, holder: str, until: datetime) -> bool:
        """Take the lease from ``previous`` (known dead) if it still holds it."""
        with self._write() as conn:
            result = conn.execute(
                locks.update()
                .where(locks.c.name == name, locks.c.holder == previous)
                .values(holder=holder, expires_at=until)
            )
            return result.rowcount == 1

    def release_lease(self, name: str, *, holder: str) -> None:
        with self._write() as conn:
            conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(locks.c.holder, locks.c.expires_at).where(locks.c.name == name)
            ).first()
        return None if row is None else (row.holder, row.expires_at)


# -- prepared statements of the hot paths ----------------------------------------------------

_GET_WORKSPACE = sa.select(workspaces).where(workspaces.c.key == sa.bindparam("key"))
_TOUCH_WORKSPACE = (
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
_RECORD_ACTIVITY = _TOUCH_WORKSPACE.returning(*workspaces.c)
_RECORD_ACTIVITY_OF_OWNER = _TOUCH_WORKSPACE.where(
    workspaces.c.owner == sa.bindparam("b_owner")
).returning(*workspaces.c)
#: At most this many workspaces remembered by ``record_activity`` (then it starts over).
_RECENT_LIMIT = 4096


# -- engine setup ---------------------------------------------------------------------------


def _create_engine(url: str) -> sa.Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"no driver for {parsed.get_backend_name()}: install dockyard[postgres]"
        ) from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN so that writers can ask for IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front, so a read-then-write transaction queues on
    # the busy timeout instead of failing. Single-statement reads need no transaction
    # in WAL mode (each statement sees one snapshot), and skipping BEGIN halves them.
    if conn.get_execution_options().get("dockyard_write", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _insert_ignore(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        # imported here: loading the PostgreSQL dialect costs every CLI command on SQLite
        from sqlalchemy.dialects import postgresql  # noqa: PLC0415

        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _ensure_installation_id(engine: sa.Engine) -> str:
    with engine.connect() as raw:
        conn = raw.execution_options(dockyard_write=True)
        with conn.begin():
            existing = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "installation_id")
            ).scalar()
            if existing:
                return str(existing)
            installation = secrets.token_hex(6)
            conn.execute(meta.insert().values(key="installation_id", value=installation))
            return installation


def _db_reason(exc: sa.exc.SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


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
    }


def _workspace(row: sa.RowMapping) -> Workspace:
    return Workspace(
        key=row["key"],
        name=row["name"],
        volume=row["volume"],
        owner=row["owner"],
        image=row["image"],
        resources=Resources(
            memory_bytes=row["memory_bytes"], nano_cpus=row["nano_cpus"], pids=row["pids"]
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
        revision=row["revision"],
    )


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


def _session(row: sa.RowMapping) -> Session:
    return Session(
        id=row["id"],
        workspace_key=row["workspace_key"],
        kind=SessionKind(row["kind"]),
        status=SessionStatus(row["status"]),
        created_at=row["created_at"],
        last_used=row["last_used"],
        holder=row["holder"],
        description=row["description"],
    )
