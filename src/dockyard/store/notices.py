"""Notices through the database: "something changed, look again", to every manager on it.

On PostgreSQL a ``NOTIFY`` reaches every session that ``LISTEN``s on the same database,
from any machine: a manager that changed a workspace (an ``up``, an ``extend``) wakes the
reconcile loops of all replicas. Best effort both ways: a notice lost while a listener
reconnects only means the loop looks at its next deadline, as it would anyway. Other
databases have no such channel (on SQLite everything is on one machine, and the wake
socket in the data directory does the job).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import sqlalchemy as sa

from dockyard.store.db import Database

log = logging.getLogger("dockyard.store")

CHANNEL = "dockyard_wake"
_SEND = sa.text(f"SELECT pg_notify('{CHANNEL}', :sender)")
#: How long one wait for notices lasts (``stop`` is noticed within it).
WAIT_S = 1.0


class Notices(Protocol):
    @property
    def supported(self) -> bool: ...

    def send(self, sender: str = "") -> None:
        """Tell every listener on this database to look again (``sender``: who asks)."""
        ...

    def listen(self, *, stop: threading.Event, heard: Callable[[str], None]) -> None:
        """Call ``heard`` with the sender of every notice until ``stop`` (a thread's body)."""
        ...


def notices(db: Database) -> Notices:
    return Listen(db) if db.dialect == "postgresql" else NoChannel()


class NoChannel:
    supported = False

    def send(self, sender: str = "") -> None:
        """Nobody to tell through this database."""

    def listen(self, *, stop: threading.Event, heard: Callable[[str], None]) -> None:  # noqa: ARG002
        return


class Listen:
    supported = True

    def __init__(self, db: Database) -> None:
        self._db = db

    def send(self, sender: str = "") -> None:
        with self._db.write() as conn:
            conn.execute(_SEND, {"sender": sender})

    def listen(self, *, stop: threading.Event, heard: Callable[[str], None]) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                self._listen_once(stop, heard)
            except Exception as exc:  # noqa: BLE001 - SQLAlchemy's, or the driver's own (psycopg)
                log.debug("listening for notices failed (again in %.0fs): %s", backoff, exc)
            else:
                return
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def _listen_once(self, stop: threading.Event, heard: Callable[[str], None]) -> None:
        raw = self._db.engine.raw_connection()
        try:
            conn = raw.driver_connection  # psycopg's own connection: it waits for notices
            conn.autocommit = True  # type: ignore[union-attr]
            conn.execute(f"LISTEN {CHANNEL}")  # type: ignore[union-attr]
            while not stop.is_set():
                for notice in conn.notifies(timeout=WAIT_S):  # type: ignore[union-attr]
                    heard(notice.payload)
        finally:
            raw.invalidate()  # never back into the pool with LISTEN on it
