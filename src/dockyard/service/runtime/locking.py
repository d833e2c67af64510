"""Mutual exclusion across threads, processes and manager replicas (per workspace, per owner).

A lock is a lease row in the store (``locks``): taken with a compare-and-set, renewed by
a background thread while held, released at the end. If the holder dies (SIGKILL, a
lost machine) the lease expires after ``ttl`` and the next caller takes it (at once, if
the dead holder was a process on the same host); the
operation it interrupted left its intent in the workspace record, so the next holder
knows what to finish or undo. Works the same on SQLite and PostgreSQL.

Waiting polls with capped exponential backoff (5 ms .. 200 ms); with the store as the
only shared medium there is nothing to block on, and contended waits are rare and short
(a create takes a few hundred milliseconds).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from dockyard.core.errors import Busy
from dockyard.service.runtime.identity import holder_is_dead
from dockyard.store import Store

DEFAULT_TTL = timedelta(seconds=30)
#: For background work on a workspace someone else holds: skip it rather than queue.
SHORT_WAIT = timedelta(seconds=1)


@contextmanager
def lease(
    store: Store,
    name: str,
    *,
    what: str,
    holder: str,
    clock: Callable[[], datetime],
    wait: timedelta,
    ttl: timedelta = DEFAULT_TTL,
) -> Iterator[None]:
    """Hold the lease ``name`` (``what`` names it in messages) for the block."""
    token = f"{holder}:{secrets.token_hex(4)}"
    give_up = time.monotonic() + wait.total_seconds()
    delay = 0.005
    while True:
        now = clock()
        if store.leases.try_take(name, holder=token, now=now, until=now + ttl):
            break
        current = store.leases.holder(name)
        if current is not None and holder_is_dead(current[0]):
            # Its holder was killed on this host: no need to wait for the lease to expire.
            if store.leases.take_over(name, previous=current[0], holder=token, until=now + ttl):
                break
            continue
        if time.monotonic() >= give_up:
            current = store.leases.holder(name)
            who = f" (held by {current[0].rsplit(':', 1)[0]})" if current else ""
            raise Busy(
                f"{what} is busy: another operation holds it{who}; "
                f"gave up after {wait.total_seconds():g}s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)

    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            now = clock()
            store.leases.try_take(name, holder=token, now=now, until=now + ttl)

    renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        store.leases.release(name, holder=token)
