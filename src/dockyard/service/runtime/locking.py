"""Mutual exclusion across threads, processes and manager replicas (per workspace, per owner).

A lock is a lease row in the store (``locks``): taken with a compare-and-set, renewed by
a background thread while held, released at the end. If the holder dies (SIGKILL, a
lost machine) the lease expires after ``ttl`` and the next caller takes it, at once if
the store can tell that its holder's process is gone (``store.liveness``). The operation
it interrupted left its intent in the workspace record, so the next holder knows what to
finish or undo. Expiry is measured on the database's clock, which every manager shares.

A lease can be lost while held: the store did not answer the renewals for most of the
TTL (another manager may take it once it expires), or another manager took it. The
holder finds out before it does anything destructive (``ensure_held``): an operation
whose lease is gone stops with ``LeaseLost`` instead of removing what someone else now
looks after.

Waiting polls with capped exponential backoff (5 ms .. 200 ms); with the store as the
only shared medium there is nothing to block on, and contended waits are rare and short
(a create takes a few hundred milliseconds).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from dockyard.core.errors import Busy, DockyardError
from dockyard.service.runtime.identity import announce, holder_is_dead, nonce_of
from dockyard.store import Store

log = logging.getLogger("dockyard.locking")

DEFAULT_TTL = timedelta(seconds=30)
#: For background work on a workspace someone else holds: skip it rather than queue.
SHORT_WAIT = timedelta(seconds=1)
#: A lease not renewed for this share of its TTL counts as lost (others may take it soon).
LOST_AFTER = 0.8


class LeaseLost(Busy):
    """A lease this operation held is gone; it stops before any destructive step."""

    code = "lease_lost"


class Lease:
    """One held lease: its name, its token in the store, and whether it is still held."""

    def __init__(self, name: str, token: str, what: str) -> None:
        self.name = name
        self.token = token
        self.what = what
        self.lost_why: str | None = None

    @property
    def lost(self) -> bool:
        return self.lost_why is not None

    def ensure(self) -> None:
        if self.lost_why is not None:
            raise LeaseLost(f"{self.what}: {self.lost_why}; stopped before changing anything more")


_held = threading.local()  # name -> Lease, of the thread that holds it


def ensure_held(name: str) -> None:
    """Raise ``LeaseLost`` if this thread's lease ``name`` was lost (no-op if not held)."""
    found: Lease | None = getattr(_held, "leases", {}).get(name)
    if found is not None:
        found.ensure()


@contextmanager
def lease(
    store: Store,
    name: str,
    *,
    what: str,
    holder: str,
    wait: timedelta,
    ttl: timedelta = DEFAULT_TTL,
) -> Iterator[Lease]:
    """Hold the lease ``name`` (``what`` names it in messages) for the block."""
    announce(store, holder)
    held = Lease(name, f"{holder}:{secrets.token_hex(4)}", what)
    _take(store, held, wait=wait, ttl=ttl)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(store, held, ttl, stop), name=f"lease-{name}", daemon=True
    )
    renewer.start()
    leases: dict[str, Lease] = getattr(_held, "leases", None) or {}
    _held.leases = leases
    outer = leases.get(name)
    leases[name] = held
    try:
        yield held
    finally:
        if outer is None:
            leases.pop(name, None)
        else:
            leases[name] = outer
        stop.set()
        renewer.join()
        try:
            store.leases.release(name, holder=held.token)
        except DockyardError as exc:  # it expires on its own
            log.warning("could not release %s: %s", what, exc)


def abandoned(store: Store, name: str) -> bool:
    """Whether nobody holds the lease ``name``: free, or its holder known dead (an
    operation that should hold it was interrupted). An expired lease of a holder that
    may live is not: its renewals may only be late (``interrupted_after`` covers it)."""
    current = store.leases.holder(name)
    return current is None or holder_is_dead(current[0], store)


def _take(store: Store, held: Lease, *, wait: timedelta, ttl: timedelta) -> None:
    give_up = time.monotonic() + wait.total_seconds()
    delay = 0.005
    while True:
        now = store.leases.db_now()
        if store.leases.try_take(held.name, holder=held.token, now=now, until=now + ttl):
            return
        current = store.leases.holder(held.name)
        if current is not None and holder_is_dead(current[0], store):
            # Its holder's process is gone: no need to wait for the lease to expire.
            taken = store.leases.take_over(
                held.name, previous=current[0], holder=held.token, until=now + ttl
            )
            if taken:
                return
            continue
        if time.monotonic() >= give_up:
            current = store.leases.holder(held.name)
            who = f" (held by {current[0].rsplit(':', 1)[0]})" if current else ""
            raise Busy(
                f"{held.what} is busy: another operation holds it{who}; "
                f"gave up after {wait.total_seconds():g}s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _renew(store: Store, held: Lease, ttl: timedelta, stop: threading.Event) -> None:
    """Renew every third of the TTL until ``stop`` (every second while the store does
    not answer); mark the lease lost when it is, or is about to be (others may take
    it once it expires)."""
    period, retry = ttl.total_seconds() / 3, min(1.0, ttl.total_seconds() / 10)
    renewed = time.monotonic()
    wait = period
    nonce = nonce_of(held.token)
    while not stop.wait(wait):
        try:
            if nonce is not None and not store.liveness.verify(nonce):
                held.lost_why = "this manager's liveness lock was cut (others may have taken it)"
                log.warning("%s: %s", held.what, held.lost_why)
                return
            now = store.leases.db_now()
            if store.leases.try_take(held.name, holder=held.token, now=now, until=now + ttl):
                renewed, wait = time.monotonic(), period
                continue
            held.lost_why = "another operation took its lease"
        except DockyardError as exc:
            if time.monotonic() - renewed < LOST_AFTER * ttl.total_seconds():
                log.warning("could not renew %s (retrying): %s", held.what, exc)
                wait = retry
                continue
            held.lost_why = f"its lease could not be renewed ({exc.message})"
        log.warning("%s: %s", held.what, held.lost_why)
        return
