"""Whether the process behind a lease or a session still lives, as the store can tell.

A holder announces itself once (``announce``) and is then alive for exactly as long as
its process holds something the operating system or the database frees the instant the
process dies, however it dies, and whatever pid namespace, host name or machine it had:

- on SQLite, an exclusive ``flock`` on a file of its own beside the database (the
  database and these files are on one machine's file system);
- on PostgreSQL, a session advisory lock on a connection it keeps for its life (a killed
  process's session ends and its lock is free at once, seen from any host; a machine
  that is lost holds it until the server's TCP keepalive gives up), and a row saying
  that it announced itself (``live:<generation>``).

Anyone may ask (``alive``): a lock that can be taken is a dead holder's. The first to
find a holder dead marks it so (and leaves the mark): several leases of one holder may be
looked at, by several managers, one after another, and each must get the same answer.
Marks older than ``KEEP_DEAD_S`` (long past every lease's expiry) are cleared by the next
death found. Where the store cannot tell (another database, a holder that never
announced itself), the answer is None and leases expire on their own.

A live holder's session can be cut without its process dying (a database restart, an
idle-session timeout, a proxy; PgBouncer must run in session mode): others then take it
for dead. The holder checks its lock at each lease renewal (``verify``), takes it again,
and counts its leases lost: an operation under one stops before its next destructive
step (``LeaseLost``), within a third of the lease TTL.
"""

from __future__ import annotations

import atexit
import hashlib
import secrets
import time
from contextlib import suppress
from typing import Protocol

import sqlalchemy as sa

from dockyard.core.errors import DockyardError, StoreError, StoreUnavailable
from dockyard.store.db import Database, reason
from dockyard.store.lockfiles import (
    _DEAD,
    _HELD_LOCK,
    _NAME,
    KEEP_DEAD_S,
    LockFiles,
    holders_dir,
)
from dockyard.store.schema import meta

#: What this process holds by (database, name): one connection per holder and database.
_SESSIONS: dict[tuple[str, str], sa.Connection] = {}  # (database, name) -> its connection
_LIVE = "live:"


class Liveness(Protocol):
    @property
    def supported(self) -> bool: ...

    def announce(self, name: str) -> None:
        """Hold ``name``'s lock (this process's holder id) for the process's life."""
        ...

    def alive(self, name: str) -> bool | None:
        """True while the holder ``name`` lives, False once it died; None: cannot tell."""
        ...

    def verify(self, name: str) -> bool:
        """For the holder itself: whether its lock held all along. False if it was lost
        (its session cut by a database restart or an idle timeout, or marked dead):
        others may have taken what it held. The lock is taken again either way."""
        ...


def liveness(db: Database) -> Liveness:
    if db.dialect == "postgresql":
        return AdvisoryLocks(db)
    database = db.engine.url.database if db.dialect == "sqlite" else None
    if database and database != ":memory:":
        return LockFiles(holders_dir(database))
    return Unknown()


class Unknown:
    """A database whose holders' lives cannot be told: leases expire on their own."""

    supported = False

    def announce(self, name: str) -> None:
        """Nothing to hold."""

    def alive(self, name: str) -> bool | None:  # noqa: ARG002 - the protocol's signature
        return None

    def verify(self, name: str) -> bool:  # noqa: ARG002 - the protocol's signature
        return True


#: The first key of dockyard's two-key advisory locks ("dyho"); the migration lock uses
#: the one-key space, which never meets this one.
_ADVISORY_CLASS = 0x6479686F
_PING = sa.text("SELECT 1")
_TRY = sa.text("SELECT pg_try_advisory_lock(:c, :o)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:c, :o)")


def _meta_key(name: str) -> str:
    return f"holder:{name}"


def _object_key(name: str) -> int:
    """A 31-bit key for ``name`` (the second key is a signed int4)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _drop(conn: sa.Connection) -> None:
    """Close ``conn`` for good (never back into the pool: its session may hold a lock)."""
    with suppress(sa.exc.SQLAlchemyError):
        conn.invalidate()
        conn.close()


def _dead_since(mark: str) -> float:
    try:
        return float(mark.removeprefix(_DEAD))
    except ValueError:
        return 0.0


class AdvisoryLocks:
    supported = True

    def __init__(self, db: Database) -> None:
        self._db = db

    def _keys(self, name: str) -> dict[str, int]:
        return {"c": _ADVISORY_CLASS, "o": _object_key(name)}

    def announce(self, name: str) -> None:
        if not _NAME.match(name):
            return
        held = (self._db.url, name)
        with _HELD_LOCK:
            if held in _SESSIONS:
                return
            _SESSIONS[held] = self._lock(name)
            atexit.register(self._forget, name, held)

    def _lock(self, name: str) -> sa.Connection:
        """Take ``name``'s lock on a connection of its own (the lock lives with that
        session) and mark its row live, with a new generation."""
        try:
            conn = self._db.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot reach the store: {reason(exc)}") from exc
        try:
            locked = bool(conn.execute(_TRY, self._keys(name)).scalar())
            conn.commit()  # the lock is the session's, not the transaction's
            if locked:
                self._mark_live(name)
        except BaseException as exc:
            _drop(conn)
            if isinstance(exc, sa.exc.SQLAlchemyError):
                raise StoreUnavailable(f"cannot reach the store: {reason(exc)}") from exc
            raise
        if not locked:
            _drop(conn)
            raise StoreError(f"holder {name} is locked by another session")
        return conn

    def _mark_live(self, name: str) -> None:
        live = f"{_LIVE}{secrets.token_hex(4)}"
        with self._db.write() as writing:
            if not self._db.insert_if_absent(writing, meta, key=_meta_key(name), value=live):
                writing.execute(
                    meta.update().where(meta.c.key == _meta_key(name)).values(value=live)
                )

    def verify(self, name: str) -> bool:
        if not _NAME.match(name):
            return True
        held = (self._db.url, name)
        with _HELD_LOCK:
            conn = _SESSIONS.get(held)
            if conn is None:
                return True  # not announced by this process: nothing to lose
            try:
                conn.execute(_PING).scalar()
                conn.commit()
                with self._db.read() as reading:
                    value = reading.execute(
                        sa.select(meta.c.value).where(meta.c.key == _meta_key(name))
                    ).scalar()
                intact = value is not None and value.startswith(_LIVE)
            except (sa.exc.SQLAlchemyError, DockyardError):
                intact = False
            if intact:
                return True
            _drop(conn)
            del _SESSIONS[held]
            with suppress(DockyardError):
                _SESSIONS[held] = self._lock(name)  # else at the next announce
            return False

    def alive(self, name: str) -> bool | None:
        if not _NAME.match(name):
            return None
        if (self._db.url, name) in _SESSIONS:
            return True
        with self._db.read() as conn:
            announced = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == _meta_key(name))
            ).first()
            if announced is None:
                return None  # never announced on this database: cannot tell
            if announced.value.startswith(_DEAD):
                return False
            taken = bool(conn.execute(_TRY, self._keys(name)).scalar())
            if taken:
                conn.execute(_UNLOCK, self._keys(name))
            conn.commit()
        return not taken or not self._mark_dead(name, seen=announced.value)

    def _mark_dead(self, name: str, *, seen: str) -> bool:
        """Mark ``name`` dead unless it took its lock again since its row said ``seen``;
        clear marks older than ``KEEP_DEAD_S``. Whether it is marked dead."""
        now = time.time()
        with self._db.write() as conn:
            marked_now = conn.execute(
                meta.update()
                .where(meta.c.key == _meta_key(name), meta.c.value == seen)
                .values(value=f"{_DEAD}{now:.0f}")
            )
            if marked_now.rowcount == 0:
                return False
            marked = conn.execute(
                sa.select(meta.c.key, meta.c.value).where(
                    meta.c.key.startswith(_meta_key(""), autoescape=True),
                    meta.c.value.startswith(_DEAD, autoescape=True),
                )
            ).all()
            stale = [row.key for row in marked if _dead_since(row.value) < now - KEEP_DEAD_S]
            if stale:
                conn.execute(meta.delete().where(meta.c.key.in_(stale)))
        return True

    def _forget(self, name: str, held: tuple[str, str]) -> None:
        # at exit: the database may be gone already (the lock went with it, then)
        with suppress(DockyardError), self._db.write() as writing:
            writing.execute(meta.delete().where(meta.c.key == _meta_key(name)))
        conn = _SESSIONS.pop(held, None)
        if conn is not None:
            with suppress(sa.exc.SQLAlchemyError):
                conn.close()
