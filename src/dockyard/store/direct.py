"""The CLI's quick exec on SQLite with the standard library's sqlite3 alone.

``dockyard exec`` is what an agent runs for every step; loading SQLAlchemy costs it more
than the exec itself. This is the handful of statements that path needs, on the same
tables and with the same meaning as the store's families (a unit test runs both on the
same records and compares what they leave): read a workspace, open an exec session (its
use is activity on the workspace) and close it. Anything else, or a store whose schema
is not this release's, is the full store's to do (``open`` says None).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dockyard.core.model import ACTIVE_STATES, CloseReason, SessionKind, SessionStatus, State
from dockyard.store.revision import SCHEMA_REVISION

_ACTIVE = {f"active_{n}": s.value for n, s in enumerate(sorted(ACTIVE_STATES), start=1)}
_GET = 'SELECT state, container_id, engine FROM workspaces WHERE "key" = :key'
#: ``store.workspaces.touch_in``: activity never moves back; a warned workspace runs again.
_TOUCH = (
    "UPDATE workspaces SET last_activity_at = CASE WHEN last_activity_at < :at THEN :at "
    "ELSE last_activity_at END, state = :running, warned_deadline = NULL, "
    'revision = revision + 1 WHERE "key" = :key AND state IN (:active_1, :active_2)'
)
_OPEN = (
    "INSERT INTO sessions (id, workspace_key, kind, status, created_at, last_used, holder, "
    "description) VALUES (:id, :key, :kind, :status, :at, :at, :holder, :description)"
)
#: ``store.sessions.close``
_CLOSE = (
    "UPDATE sessions SET status = :dead, last_used = :at, closed_reason = :reason, "
    "running_since = NULL WHERE id = :id AND workspace_key = :key AND status != :dead"
)


@dataclass(frozen=True, slots=True)
class Running:
    """What the quick exec needs of a workspace record."""

    state: State
    container_id: str | None
    engine: str


class DirectStore:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> DirectStore | None:
        """The store in the SQLite file ``path``; None if there is none yet, or its schema
        is not this release's (the full store migrates it)."""
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        if row is None or row[0] != SCHEMA_REVISION:
            conn.close()
            return None
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def workspace(self, key: str) -> Running | None:
        row = self._conn.execute(_GET, {"key": key}).fetchone()
        if row is None:
            return None
        return Running(state=State(row[0]), container_id=row[1], engine=row[2])

    def open_exec(self, key: str, *, holder: str, at: datetime, description: str) -> str:
        """Open an ``exec`` session of ``key`` (activity on it); its id."""
        session_id = os.urandom(8).hex()  # as secrets.token_hex(8), without loading hashlib
        values = {
            "id": session_id,
            "key": key,
            "kind": SessionKind.EXEC.value,
            "status": SessionStatus.ACTIVE.value,
            "at": at.timestamp(),
            "holder": holder,
            "description": description[:255],
        }
        self._write(_OPEN, values, key=key, at=at)
        return session_id

    def close_exec(self, key: str, session_id: str, *, at: datetime) -> None:
        """Close the exec session (activity on the workspace, as its end)."""
        values = {
            "id": session_id,
            "key": key,
            "dead": SessionStatus.DEAD.value,
            "at": at.timestamp(),
            "reason": CloseReason.ENDED.value,
        }
        self._write(_CLOSE, values, key=key, at=at)

    def _write(self, statement: str, values: dict[str, object], *, key: str, at: datetime) -> None:
        """``statement`` and the touch of ``key`` in one transaction (BEGIN IMMEDIATE, as
        every writer of the store: concurrent writers queue on the busy timeout)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(statement, values)
            touch = {"key": key, "at": at.timestamp(), "running": State.RUNNING.value, **_ACTIVE}
            self._conn.execute(_TOUCH, touch)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
