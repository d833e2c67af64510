"""The reconcile loops sharing one store, and which of them looks after what.

Each running loop holds a lease named ``reconciler:<its identity>`` for its life: that
lease row is its membership. A watcher reads the members every ``PERIOD_S`` on the
database's clock; a member whose process the store knows to be gone (``liveness``: at
once) or whose lease expired (its TTL, where the store cannot tell) is dropped, and its
row deleted. When the members change, the loop is woken: the workspaces of a member that
died now belong to the others, and an operation it left half done (a park) is finished by
their next pass. The watcher also looks for such operations of any manager (a CLI or an
API call killed mid-park): a workspace of this loop's share in a transient state whose
lease nobody live holds wakes the loop, which recovers it at once. The split itself is
``core.shares``: pure, the same on every member.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta

from dockyard.core.errors import DockyardError
from dockyard.core.model import TRANSIENT_STATES
from dockyard.core.shares import Share
from dockyard.service.observe import cut_off
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.identity import holder_is_dead
from dockyard.service.runtime.locking import Lease, lease

log = logging.getLogger("dockyard.reconciler")

PREFIX = "reconciler:"
#: How often a loop looks at who else runs (a dead member's work moves within this).
PERIOD_S = 1.0


class Membership:
    """This loop's place among the loops on its store."""

    def __init__(self, ctx: Context, *, on_change: Callable[[], None]) -> None:
        self._ctx = ctx
        self._on_change = on_change
        self._share = Share.alone(ctx.holder)
        self._stack = ExitStack()
        self._lease: Lease | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._cut_off: set[str] = set()  # operations seen cut off (woken for once)
        self._failing = False  # joining failed last time (said once, not every second)

    @property
    def share(self) -> Share:
        return self._share

    def join(self, *, watch: bool = True) -> bool:
        """Become a member (until ``leave``); ``watch``: follow the others in a thread,
        which also joins again whenever the membership could not be taken or was lost.
        Whether this loop is a member now (until it is, it acts on all it sees)."""
        joined = self._enter()
        if watch:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="replicas", daemon=True)
            self._watcher.start()
        return joined

    def leave(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        self._stack.close()  # releases the lease: the others take over at their next look
        self._lease = None
        self._share = Share.alone(self._ctx.holder)

    def _enter(self) -> bool:
        """Hold the membership lease (again, if it was lost); whether it is held."""
        if self._lease is not None and not self._lease.lost:
            return True
        self._stack.close()
        self._stack, self._lease = ExitStack(), None
        try:
            self._lease = self._stack.enter_context(
                lease(
                    self._ctx.store,
                    PREFIX + self._ctx.holder,
                    what="this reconciler's membership",
                    holder=self._ctx.holder,
                    wait=timedelta(0),
                )
            )
            self.refresh()
        except DockyardError as exc:
            if not self._failing:
                log.warning("not a member of the reconcilers yet (retrying): %s", exc)
            self._failing = True
            return False
        if self._failing:
            log.info("a member of the reconcilers again")
            self._failing = False
        return True

    def refresh(self) -> bool:
        """Read the members now (dropping dead ones); whether they changed."""
        store = self._ctx.store
        members = {self._ctx.holder}
        now = store.leases.db_now()
        store.leases.purge_expired(PREFIX, now=now)  # members gone where nobody can tell
        for name, holder in store.leases.held(PREFIX, now=now):
            if holder_is_dead(holder, store):
                store.leases.release(name, holder=holder)
                log.info("reconciler %s is gone; its workspaces move to the others", holder)
                continue
            members.add(name.removeprefix(PREFIX))
        changed = members != self._share.members
        self._share = Share(self._ctx.holder, frozenset(members))
        return changed

    def cut_off(self) -> set[str]:
        """The workspaces of this share whose operation was cut off."""
        transient = self._ctx.store.workspaces.list(states=TRANSIENT_STATES)
        return cut_off(self._ctx, transient, mine=self._share.mine)

    def _watch(self) -> None:
        while not self._stop.wait(PERIOD_S):
            try:
                rejoining = self._failing
                if not self._enter():
                    continue
                changed = self.refresh() or rejoining
                cut_off = self.cut_off()
            except DockyardError as exc:  # the pass finds out too, and backs off
                log.debug("could not read the other reconcilers: %s", exc)
                continue
            except Exception:  # a bug: say so, and keep watching
                log.exception("watching the other reconcilers failed")
                continue
            if changed:
                log.info("%d reconcilers share the work now", len(self._share.members))
            fresh = cut_off - self._cut_off
            self._cut_off = cut_off
            if changed or fresh:
                self._on_change()
