"""A holder's liveness on SQLite: an exclusive ``flock`` on a file of its own beside the
database, held for the process's life and freed by the system the instant it dies
(``store.liveness``). The standard library only: the CLI's quick exec announces itself
with it too."""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import threading
import time
from contextlib import suppress
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: What this process holds, by file: one per process, however many stores it opens (a
#: second flock on a new open file would shut the first out).
_FILES: dict[Path, int] = {}  # lock file -> its open descriptor
_HELD_LOCK = threading.Lock()
#: How long a dead holder's mark is kept (its leases expired long before).
KEEP_DEAD_S = 3600.0
_DEAD = "dead:"


def holders_dir(database: str) -> Path:
    """Where the holders of the SQLite database file ``database`` keep their locks."""
    return Path(f"{database}.holders")


class LockFiles:
    supported = True

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def announce(self, name: str) -> None:
        if not _NAME.match(name):
            return
        path = self._dir / f"{name}.lock"
        with _HELD_LOCK:
            if path in _FILES:
                return
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            _FILES[path] = fd
            atexit.register(_forget_file, fd, path)

    def verify(self, name: str) -> bool:  # noqa: ARG002 - the protocol's signature
        return True  # a flock on an open file cannot be taken from its holder

    def alive(self, name: str) -> bool | None:
        if not _NAME.match(name):
            return None
        path = self._dir / f"{name}.lock"
        if path in _FILES:
            return True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # never announced here (or cleaned away): cannot tell
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return True
        try:  # a dead holder's file (its lock taken, by us, now): marked, or long marked
            if os.pread(fd, len(_DEAD), 0) != _DEAD.encode():
                os.pwrite(fd, _DEAD.encode(), 0)
            elif time.time() - os.fstat(fd).st_mtime > KEEP_DEAD_S:
                with suppress(FileNotFoundError):
                    path.unlink()
        finally:
            os.close(fd)  # (releases the lock we took)
        return False


def _forget_file(fd: int, path: Path) -> None:
    with suppress(OSError):
        path.unlink()
    with suppress(OSError):
        os.close(fd)
