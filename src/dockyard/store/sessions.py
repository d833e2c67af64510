"""Session records. Opening, using and closing a session is activity on its workspace,
recorded in the same transaction (one round trip per exec step, not two).

``open`` takes the live-session limit as a number and applies it atomically with the
insert (one-shot ``exec`` sessions are not counted); what the limit is, and what to tell
the caller at it, is the service's business. A closed session keeps its record, ``dead``
with the reason it ended.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import overload

import sqlalchemy as sa

from dockyard.core.model import CloseReason, Session, SessionKind, SessionStatus
from dockyard.store.db import Database
from dockyard.store.schema import UTCDateTime, sessions
from dockyard.store.workspaces import Workspaces, touch_in


class Sessions:
    def __init__(self, db: Database, *, workspaces: Workspaces) -> None:
        self._db = db
        self._workspaces = workspaces

    @overload
    def open(
        self,
        *,
        workspace_key: str,
        kind: SessionKind,
        holder: str,
        at: datetime,
        description: str = "",
        at_most: None = None,
    ) -> Session: ...

    @overload
    def open(
        self,
        *,
        workspace_key: str,
        kind: SessionKind,
        holder: str,
        at: datetime,
        description: str = "",
        at_most: int,
    ) -> Session | None: ...

    def open(
        self,
        *,
        workspace_key: str,
        kind: SessionKind,
        holder: str,
        at: datetime,
        description: str = "",
        at_most: int | None = None,
    ) -> Session | None:
        """Open a session, which is activity on its workspace; None (and nothing
        written) if the workspace already has ``at_most`` active ones (execs aside)."""
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
        with self._workspaces.writing(workspace_key) as conn:
            if at_most is not None and _active(conn, workspace_key) >= at_most:
                return None
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
            touch_in(conn, workspace_key, at=at)
        return session

    def get(self, session_id: str) -> Session | None:
        with self._db.read() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
        return None if row is None else _session(row._mapping)

    def use(
        self,
        session_id: str,
        *,
        workspace_key: str,
        at: datetime,
        holder: str,
        running: bool | None = None,
    ) -> bool:
        """Record a use of a live or detached session of ``workspace_key`` (reattaching
        it to ``holder``), which is activity on the workspace; False if it is closed.
        ``running``: a command starts (True: only if none is in flight, else False) or
        ends (False) with this use."""
        query = _USE if running is None else _BEGIN_COMMAND if running else _END_COMMAND
        params = {"b_id": session_id, "b_key": workspace_key, "b_at": at, "b_holder": holder}
        with self._workspaces.writing(workspace_key) as conn:
            result = conn.execute(query, params)
            if result.rowcount != 1:
                return False
            touch_in(conn, workspace_key, at=at)
            return True

    def close(
        self, session_id: str, *, workspace_key: str, at: datetime, reason: CloseReason
    ) -> bool:
        """Close a live session of ``workspace_key``: its last use, activity on the
        workspace. False if it was closed already."""
        with self._workspaces.writing(workspace_key) as conn:
            closed = conn.execute(
                sessions.update()
                .where(
                    sessions.c.id == session_id,
                    sessions.c.workspace_key == workspace_key,
                    sessions.c.status != SessionStatus.DEAD.value,
                )
                .values(
                    status=SessionStatus.DEAD.value,
                    last_used=at,
                    closed_reason=reason.value,
                    running_since=None,
                )
            ).rowcount
            touch_in(conn, workspace_key, at=at)
        return closed == 1

    def close_unused(self, session_id: str, *, since: datetime, reason: CloseReason) -> bool:
        """Close a live session that nobody used after ``since`` and that runs no
        command for a live holder (the re-check of a planned close); False otherwise."""
        with self._db.write() as conn:
            return (
                conn.execute(
                    sessions.update()
                    .where(
                        sessions.c.id == session_id,
                        sessions.c.status != SessionStatus.DEAD.value,
                        sessions.c.last_used <= since,
                        sa.or_(
                            sessions.c.running_since.is_(None),
                            sessions.c.status != SessionStatus.ACTIVE.value,
                        ),
                    )
                    .values(status=SessionStatus.DEAD.value, closed_reason=reason.value)
                ).rowcount
                == 1
            )

    def set_status(
        self, ids: Iterable[str], status: SessionStatus, *, reason: CloseReason | None = None
    ) -> int:
        """Set the status of live sessions whose holder died (``reason``: why, when they
        are now dead); a command they had in flight is no longer anyone's."""
        ids = list(ids)
        if not ids:
            return 0
        values: dict[str, object] = {"status": status.value, "running_since": None}
        if status is SessionStatus.DEAD:
            values["closed_reason"] = (reason or CloseReason.ENDED).value
        with self._db.write() as conn:
            return conn.execute(
                sessions.update()
                .where(sessions.c.id.in_(ids), sessions.c.status != SessionStatus.DEAD.value)
                .values(**values)
            ).rowcount

    def end(
        self,
        *,
        reason: CloseReason,
        workspace_key: str | None = None,
        ids: Iterable[str] | None = None,
    ) -> builtins.list[Session]:
        """Mark the live sessions of a workspace (or the given ones) dead, for
        ``reason``; returns them as they were."""
        query = sa.select(sessions).where(sessions.c.status != SessionStatus.DEAD.value)
        if workspace_key is not None:
            query = query.where(sessions.c.workspace_key == workspace_key)
        if ids is not None:
            query = query.where(sessions.c.id.in_(list(ids)))
        with self._db.write() as conn:
            ended = [_session(row._mapping) for row in conn.execute(query)]
            if ended:
                conn.execute(
                    sessions.update()
                    .where(sessions.c.id.in_([s.id for s in ended]))
                    .values(
                        status=SessionStatus.DEAD.value,
                        closed_reason=reason.value,
                        running_since=None,
                    )
                )
        return ended

    def list(
        self,
        *,
        workspace_key: str | None = None,
        statuses: Iterable[SessionStatus] | None = None,
        kinds: Iterable[SessionKind] | None = None,
    ) -> builtins.list[Session]:
        query = sa.select(sessions).order_by(sessions.c.created_at)
        if workspace_key is not None:
            query = query.where(sessions.c.workspace_key == workspace_key)
        if statuses is not None:
            query = query.where(sessions.c.status.in_([s.value for s in statuses]))
        if kinds is not None:
            query = query.where(sessions.c.kind.in_([k.value for k in kinds]))
        with self._db.read() as conn:
            return [_session(row._mapping) for row in conn.execute(query)]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per workspace key: (live sessions, all sessions not dead)."""
        query = sa.select(sessions.c.workspace_key, sessions.c.status, sa.func.count()).group_by(
            sessions.c.workspace_key, sessions.c.status
        )
        counts: dict[str, tuple[int, int]] = {}
        with self._db.read() as conn:
            for key, status, count in conn.execute(query):
                if status == SessionStatus.DEAD.value:
                    continue
                live, total = counts.get(key, (0, 0))
                if status == SessionStatus.ACTIVE.value:
                    live += count
                counts[key] = (live, total + count)
        return counts


# -- prepared statements of the hot path (a command in a session: two uses) ----------------

_USE = (
    sessions.update()
    .where(
        sessions.c.id == sa.bindparam("b_id"),
        sessions.c.workspace_key == sa.bindparam("b_key"),
        sessions.c.status != SessionStatus.DEAD.value,
    )
    .values(
        status=SessionStatus.ACTIVE.value,
        last_used=sa.bindparam("b_at", type_=UTCDateTime),
        holder=sa.bindparam("b_holder"),
    )
)
_BEGIN_COMMAND = _USE.where(sessions.c.running_since.is_(None)).values(
    running_since=sa.bindparam("b_at", type_=UTCDateTime)
)
_END_COMMAND = _USE.values(running_since=None)


def _active(conn: sa.Connection, workspace_key: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(sessions)
            .where(
                sessions.c.workspace_key == workspace_key,
                sessions.c.status == SessionStatus.ACTIVE.value,
                sessions.c.kind != SessionKind.EXEC.value,
            )
        ).scalar_one()
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
        closed_reason=None if row["closed_reason"] is None else CloseReason(row["closed_reason"]),
        running_since=row["running_since"],
    )
