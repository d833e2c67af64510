"""Waking a reconcile loop from another process: a datagram on a socket in the data dir.

A CLI command that changed something (``up``, ``extend``, ``unkeep``...) sends one; a
loop on the same data directory listens. Best effort both ways: no loop, no socket, no
harm.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

log = logging.getLogger("dockyard.reconciler")

WAKE_SOCKET = "reconciler.sock"


def notify(data_dir: Path) -> None:
    """Wake a reconciler running on this data directory, if any (best effort, instant)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, suppress(OSError):
        sock.setblocking(False)
        sock.sendto(b"wake", str(data_dir / WAKE_SOCKET))


def listen(data_dir: Path, *, stop: threading.Event, wake: Callable[[], None]) -> None:
    """Call ``wake`` for every datagram until ``stop`` is set (a thread's body)."""
    path = data_dir / WAKE_SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        with suppress(FileNotFoundError):
            path.unlink()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            sock.bind(str(path))
        except OSError as exc:
            log.info("no wake socket (%s); other processes cannot wake this loop", exc)
            return
        sock.settimeout(1.0)
        try:
            while not stop.is_set():
                try:
                    sock.recv(64)
                except TimeoutError:
                    continue
                wake()
        finally:
            with suppress(FileNotFoundError):
                path.unlink()
