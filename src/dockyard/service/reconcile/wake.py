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
#: The longest sender identity carried (host names are at most 253 bytes).
MAX_SENDER = 512


def notify(data_dir: Path, store: Store | None = None, *, sender: str = "") -> None:
    """Wake a reconciler running on this data directory, if any, and (with ``store``)
    every reconciler on the store that has a channel for it (best effort, instant).
    ``sender`` (a holder identity) lets a loop in the sending process ignore it: that
    one was woken directly."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, suppress(OSError):
        sock.setblocking(False)
        sock.sendto(sender.encode()[:MAX_SENDER], str(data_dir / WAKE_SOCKET))
    if store is not None:
        try:
            store.notices.send(sender)
        except DockyardError as exc:
            log.debug("could not notify the other managers: %s", exc)


def listen(data_dir: Path, *, stop: threading.Event, wake: Callable[[str], None]) -> None:
    """Call ``wake`` with the sender of every datagram until ``stop`` is set (a thread's
    body)."""
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
                    sender = sock.recv(MAX_SENDER)
                except TimeoutError:
                    continue
                wake(sender.decode(errors="replace"))
        finally:
            with suppress(FileNotFoundError):
                path.unlink()
