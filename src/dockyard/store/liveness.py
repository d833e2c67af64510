"""Whether the process behind a lease or a session still lives, as the store can tell.

A holder announces itself once (``announce``) and is then alive for exactly as long as
its process: on SQLite it holds an exclusive ``flock`` on a file of its own beside the
database (the kernel releases it the instant the process dies, however it dies, and
whatever pid namespace or host name the process had: the database and these files are
on one machine's file system). Anyone may ask (``alive``): a lock that can be taken is
a dead holder's. Where the store cannot tell (another database, a holder that never
announced itself), the answer is None and leases expire on their own.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import threading
from contextlib import suppress
from pathlib import Path

from dockyard.store.db import Database

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The locks this process holds, by file: one per process and file, however many stores
#: it opens (a lock is per open file, so a second one would shut the first out).
_HELD: dict[Path, int] = {}
_HELD_LOCK = threading.Lock()


class Liveness:
    def __init__(self, db: Database) -> None:
        database = db.engine.url.database if db.dialect == "sqlite" else None
        self._dir = Path(f"{database}.holders") if database and database != ":memory:" else None

    @property
    def supported(self) -> bool:
        return self._dir is not None

    def announce(self, name: str) -> None:
        """Hold the lock of ``name`` (this process's holder id) for the process's life."""
        if self._dir is None or not _NAME.match(name):
            return
        path = self._dir / f"{name}.lock"
        with _HELD_LOCK:
            if path in _HELD:
                return
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            _HELD[path] = fd
            atexit.register(_forget, fd, path)

    def alive(self, name: str) -> bool | None:
        """True while the holder ``name`` lives, False once it died; None: cannot tell."""
        if self._dir is None or not _NAME.match(name):
            return None
        path = self._dir / f"{name}.lock"
        if path in _HELD:
            return True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # never announced here (or cleaned away): cannot tell
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # (releases the lock if we took it)
        with suppress(FileNotFoundError):
            path.unlink()  # a dead holder's file: nobody needs it any more
        return False


def _forget(fd: int, path: Path) -> None:
    with suppress(OSError):
        path.unlink()
    with suppress(OSError):
        os.close(fd)
