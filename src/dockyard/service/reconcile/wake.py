"""Waking reconcile loops from other processes and other machines.

A manager that changed something (a CLI ``up``, ``extend``, ``unkeep``..., an API call)
wakes the loops: with a datagram on a socket in the data directory (loops on this
machine's data dir listen), and through the store where it has a channel
(``store.notices``: PostgreSQL's NOTIFY reaches the loops of every replica). Best effort
all ways: no loop, no socket, no harm.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from dockyard.core.errors import DockyardError
from dockyard.store import Store

log = logging.getLogger("dockyard.reconciler")

WAKE_SOCKET = "reconciler.sock"


def notify(data_dir: Path, store: Store | None = None) -> None:
    """Wake a reconciler running on this data directory, if any, and (with ``store``)
    every reconciler on the store that has a channel for it (best effort, instant)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, suppress(OSError):
        sock.setblocking(False)
        sock.sendto(b"wake", str(data_dir / WAKE_SOCKET))
    if store is not None:
        try:
            store.notices.send()
        except DockyardError as exc:
            log.debug("could not notify the other managers: %s", exc)


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
