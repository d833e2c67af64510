"""Opportunistic cleanup: common commands start a reconcile pass in the background.

At most once per ``reconciler.background_interval`` (an hour by default; 0 turns it
off), ``up``, ``ls``, ``status`` and ``stop`` start ``dockyard clean --background`` as a
detached process. Claiming the slot is a non-blocking lock on the marker file
``<data_dir>/.last_container_cleanup`` plus a check of its age, so concurrent commands
start one pass, and the command itself waits for nothing but a fork. The pass prints
nothing; if it fails for a reason other than an unreachable engine (the command will
say that itself), the reason is kept in ``.last_cleanup_error`` and the next command
shows it once.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dockyard.settings import Settings

MARKER = ".last_container_cleanup"
ERROR_FILE = ".last_cleanup_error"
LOG_FILE = "cleanup.log"


def claim_slot(data_dir: Path, *, interval_s: float, now: float | None = None) -> bool:
    """True if this caller should start the pass now (and the marker was updated)."""
    if interval_s <= 0:
        return False
    marker = data_dir / MARKER
    moment = time.time() if now is None else now
    try:
        if moment - marker.stat().st_mtime < interval_s:
            return False  # the common case: one stat, nothing else
        existed = True
    except FileNotFoundError:
        existed = False
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with marker.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another command is claiming it right now
        try:
            if existed and moment - marker.stat().st_mtime < interval_s:
                return False  # claimed by another command between our stat and our lock
            os.utime(marker, (moment, moment))
            return True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(settings: Settings, global_args: Sequence[str]) -> None:
    """Start the background pass if its slot is free; never raises."""
    try:
        if not claim_slot(
            settings.data_dir, interval_s=settings.reconciler.background_interval.total_seconds()
        ):
            return
        log = str(settings.data_dir / LOG_FILE)
        # A detached child in its own session, never waited for: posix_spawn rather than
        # Popen, which would warn when dropped while its child still runs.
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "dockyard", *global_args, "clean", "--background"],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
    except OSError:
        return  # an unwritable data dir is reported by the command itself


def take_error(data_dir: Path) -> str | None:
    """The last background failure, once (the file is removed when read)."""
    path = data_dir / ERROR_FILE
    try:
        text = path.read_text().strip()
        path.unlink()
    except OSError:
        return None
    return text or None


def record_error(data_dir: Path, message: str | None) -> None:
    path = data_dir / ERROR_FILE
    try:
        if message is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(message + "\n")
    except OSError:
        return
