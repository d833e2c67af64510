"""The reconcile loop: passes at the plan's deadlines, actions in a pool, look-ahead.

``dockyard reconcile`` and ``serve`` run the ``Reconciler``, which sleeps until the
plan's next deadline (at most ``max_interval``) unless woken: by an API call in the same
process, by a datagram from a CLI command in another or a notice from another replica
(``wake.py``), by a change among the loops sharing the store (``replicas.py``), or by the
engine's event stream (``watch.py``: a container died, handle it at once). An unreachable engine
or store stops a pass before it plans anything (actions already under way finish or
fail on their own), and the loop retries with backoff. Nothing here sleeps for a
deadline in tests: ``step`` runs one iteration and returns how long the loop would
wait, and scheduled actions start when the injected clock reaches their moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from dockyard.core.actions import AnyAction, MarkFailed, MarkRunning, MarkStopped, Recover
from dockyard.core.errors import DockyardError, Unavailable
from dockyard.core.planner import Plan
from dockyard.core.schedule import due_between
from dockyard.core.shares import work_item
from dockyard.service.observe import observe, replay_exec_events
from dockyard.service.reconcile.diskwatch import CHECK_EVERY_S, watch_disks
from dockyard.service.reconcile.execute import Result, Verdict, execute
from dockyard.service.reconcile.passes import PassReport, with_scheduled_gc
from dockyard.service.reconcile.replicas import Membership
from dockyard.service.reconcile.timers import Timers
from dockyard.service.reconcile.wake import listen
from dockyard.service.reconcile.watch import watch_engine
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces import pool as warm_pool
from dockyard.service.workspaces.sessions import recover_sessions

log = logging.getLogger("dockyard.reconciler")

_STOPPED_FIRST = "the reconciler stopped first"


@dataclass
class LoopStatus:
    running: bool = False
    passes: int = 0
    last_pass_at: datetime | None = None
    last_pass_s: float = 0.0
    next_wakeup: datetime | None = None
    last_error: str | None = None


class Reconciler:
    """Runs passes until stopped; deadline-driven, wakeable, backs off when blind.

    A pass plans and hands its actions to a pool of ``reconciler.workers`` threads
    without waiting for them: a slow park does not hold back the next deadline. One
    action at a time per workspace (its claim): a workspace with an action under way is
    left out of later plans until it is done; then the loop looks again at once if a
    plan wanted it meanwhile, or if the action changed a state whose next step may be
    due now (time-based steps are in the plan's ``next_wakeup`` already). ``on_pass``
    gets each pass with its results once all its actions are done.

    A pass takes time (observing hundreds of containers does), so a deadline would be
    met late by up to two passes. The loop therefore looks ahead: a pass also plans for
    a moment ``lead`` later (a small multiple of recent pass durations) and schedules
    each step its plan announced for that window (a warning, a park, ...) at its exact
    moment. Such an action still lands only if the workspace's revision is the one seen,
    so activity in the meantime wins as it always does.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        on_pass: Callable[[PassReport], None] | None = None,
        lead: timedelta | None = None,
    ) -> None:
        """``lead``: how far ahead passes plan (default: from their measured duration)."""
        self.ctx = ctx
        self.status = LoopStatus()
        self._fixed_lead = lead
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool_due = threading.Event()  # a pass ended: the warm pool is refilled
        self._backoff = 1.0
        self._on_pass = on_pass
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(
            max_workers=ctx.settings.reconciler.workers, thread_name_prefix="reconcile"
        )
        self._timers: Timers[_Work] = Timers(
            clock=ctx.now, fire=self._launch, name="reconcile-timers"
        )
        # claim -> the action's future (None while it waits for its moment); notified
        # whenever a claim is released
        self._claims = threading.Condition()
        self._claimed: dict[str, Future[Result] | None] = {}
        self._wanted: set[str] = set()  # claimed when a later plan had an action for it
        self._dying: set[str] = set()  # containers the engine's events said died
        self._pass_s = 0.0  # recent pass duration (moving average)
        self._disks_due: datetime | None = None  # the next look at capped volumes
        self._disks_busy = threading.Lock()  # held while one look is under way
        self._replayed = False
        #: the loops sharing this store: each pass plans for everything, acts on its share
        self.membership = Membership(ctx, on_change=self.wake)

    def wake(self) -> None:
        self._wake.set()

    def _woken_by(self, sender: str) -> None:
        """A wake-up from another process (or replica); this process's own woke it
        directly already."""
        if sender != self.ctx.holder:
            self.wake()

    def _died(self, container_id: str) -> None:
        """The engine says this container died or went: look now, and inspect it."""
        with self._claims:
            self._dying.add(container_id)
        self.wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pool_due.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def lead(self) -> timedelta:
        """How far ahead a pass plans: enough for the next pass to see what follows."""
        if self._fixed_lead is not None:
            return self._fixed_lead
        return timedelta(seconds=min(LOOKAHEAD_FACTOR * self._pass_s, LOOKAHEAD_MAX_S))

    def _watch(self, on: Context) -> None:
        watch_engine(on, stop=self._stop, wake=self._died, backoff_s=lambda: self._backoff)

    def step(self) -> float:
        """One pass (its actions dispatched, not awaited); returns the seconds to wait
        before the next one."""
        max_wait = self.ctx.settings.reconciler.max_interval.total_seconds()
        began = time.monotonic()
        started = self.ctx.now()
        lead = self.lead
        horizon = started + lead
        died: set[str] = set()
        try:
            if not self._replayed:  # the event watcher counts exec activity from now on
                replay_exec_events(self.ctx)
                self._replayed = True
            with self._claims:
                claimed = set(self._claimed)
                died, self._dying = self._dying, set()
            share = self.membership.share
            observation = observe(
                self.ctx,
                probe=True,
                horizon=horizon,
                working_set=True,
                busy_elsewhere=claimed,
                died=died,
                mine=share.mine,
            )
            found = share.of(observation.plan(self.ctx.policy))
            plan = with_scheduled_gc(self.ctx, found, claim=True)
            ahead = []
            if lead:
                later = share.of(observation.plan(self.ctx.policy, at=horizon))
                ahead = due_between(plan, later, horizon)
        except Unavailable as exc:
            with self._claims:
                self._dying |= died  # still to look at once the engine answers
            wait = self._backoff
            self._backoff = min(self._backoff * 2, max_wait)
            self.status.last_error = exc.message
            log.warning("reconcile pass skipped, nothing done: %s (retrying in %.0fs)", exc, wait)
            return wait
        self._backoff = 1.0
        self._dispatch(plan, ahead, started, began)
        self._pool_due.set()
        self._look_at_disks(started)
        elapsed = time.monotonic() - began
        self._pass_s = elapsed if not self.status.passes else 0.7 * self._pass_s + 0.3 * elapsed
        self.status.passes += 1
        self.status.last_pass_at = started
        self.status.last_pass_s = elapsed
        self.status.next_wakeup = plan.next_wakeup
        self.status.last_error = None
        wakeup = self._next_unclaimed(plan)
        if wakeup is None:
            return max_wait
        # wake early enough that the pass ends before the moment, which it schedules
        until = (wakeup - self.ctx.now() - lead / 2).total_seconds()
        return min(max(until, 0.0), max_wait)

    def _look_at_disks(self, now: datetime) -> None:
        """Every ``CHECK_EVERY_S`` (on the loop's clock), measure the capped volumes in
        the pool, not in the pass (one look takes up to a disk budget)."""
        if self._disks_due is not None and now < self._disks_due:
            return
        if not self._disks_busy.acquire(blocking=False):
            return  # the previous look is still under way
        self._disks_due = now + timedelta(seconds=CHECK_EVERY_S)
        self._pool.submit(self._disks_once)

    def _disks_once(self) -> None:
        try:
            watch_disks(self.ctx)
        except DockyardError as exc:
            log.warning("disk use not measured this time: %s", exc)
        except Exception:  # a bug here must not stop the loop
            log.exception("measuring disk use failed")
        finally:
            self._disks_busy.release()

    def settle(self) -> None:
        """Wait until every dispatched and scheduled action is done (and reported)."""
        with self._claims:
            while self._claimed:
                self._claims.wait()

    def _next_unclaimed(self, plan: Plan) -> datetime | None:
        """The plan's next wakeup, leaving out steps already scheduled or under way."""
        with self._claims:
            claimed = set(self._claimed)
        taken = {u.at for key, u in plan.upcoming.items() if key in claimed}
        moments = [u.at for key, u in plan.upcoming.items() if key not in claimed]
        if plan.next_wakeup is not None and plan.next_wakeup not in taken:
            moments.append(plan.next_wakeup)  # an orphan's grace, a checkpoint's expiry
        return min(moments, default=None)

    def _dispatch(
        self,
        plan: Plan,
        ahead: list[tuple[datetime, AnyAction]],
        started: datetime,
        began: float,
    ) -> None:
        now: list[AnyAction] = []
        later: list[tuple[datetime, AnyAction]] = []
        with self._claims:
            for at, action in [(None, a) for a in plan.actions] + list(ahead):
                claim = work_item(action)
                if claim in self._claimed:
                    if at is None:
                        self._wanted.add(claim)
                    continue
                self._claimed[claim] = None
                if at is None:
                    now.append(action)
                else:
                    later.append((at, action))
        dispatched = replace(plan, actions=(*now, *(a for _at, a in later)))
        done = _PassResults(dispatched, started, began, self._on_pass)
        for action in now:
            self._launch(_Work(action, done))
        for at, action in later:
            self._timers.add(at, _Work(action, done))
        if not dispatched.actions:
            done.report()

    def _launch(self, work: _Work) -> None:
        """Hand a claimed action to the pool (at once, or at its moment)."""
        with self._claims:
            try:
                future = self._pool.submit(execute, self.ctx, work.action)
            except RuntimeError:  # the pool shut down: the loop stopped
                future = None
            if future is not None:
                self._claimed[work_item(work.action)] = future
        if future is None:
            self._finish(work, Result(work.action, Verdict.SKIPPED, _STOPPED_FIRST))
        else:
            future.add_done_callback(partial(self._finished, work))

    def _finished(self, work: _Work, future: Future[Result]) -> None:
        action = work.action
        if future.cancelled():
            result = Result(action, Verdict.SKIPPED, _STOPPED_FIRST)
        else:
            try:
                result = future.result()
            except DockyardError as exc:  # Unavailable: the next pass finds out and backs off
                result = Result(action, Verdict.FAILED, exc.message)
            except Exception as exc:  # a bug: say so, and keep the loop and its report whole
                log.exception("%s %s failed unexpectedly", action.verb, action.target)
                result = Result(action, Verdict.FAILED, f"unexpected error: {exc!r}")
        self._finish(work, result)

    def _finish(self, work: _Work, result: Result) -> None:
        """Report the result, then release the claim (so ``settle`` sees both)."""
        work.done.add(result)
        claim = work_item(work.action)
        with self._claims:
            self._claimed.pop(claim, None)
            wanted = claim in self._wanted
            self._wanted.discard(claim)
            self._claims.notify_all()
        if wanted or isinstance(work.action, _FOLLOWED_AT_ONCE):
            self.wake()

    def run(self) -> None:
        """Loop until ``stop``; joins the other loops on the store, starts the event
        watcher and the wake socket."""
        self.status.running = True
        self.membership.join()  # (if it cannot yet, it keeps trying, and acts on everything)
        try:
            recovered = recover_sessions(self.ctx)
            if recovered:
                log.info("%d sessions of a previous manager are detached", recovered)
        except DockyardError as exc:
            log.warning("session recovery skipped: %s", exc)
        for name in self.ctx.engines.names:
            self._start(partial(self._watch, self.ctx.on(name)), f"engine-events-{name}")
        self._start(self._refill_pool, "warm-pool")
        self._start(
            lambda: listen(self.ctx.settings.data_dir, stop=self._stop, wake=self._woken_by),
            "wake-socket",
        )
        if self.ctx.store.notices.supported:
            self._start(
                lambda: self.ctx.store.notices.listen(stop=self._stop, heard=self._woken_by),
                "wake-notices",
            )
        try:
            while not self._stop.is_set():
                wait = self.step()
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            for work in self._timers.close():
                self._finish(work, Result(work.action, Verdict.SKIPPED, _STOPPED_FIRST))
            self._pool.shutdown(wait=True, cancel_futures=True)  # the actions under way finish
            self.membership.leave()
            self.status.running = False

    def _refill_pool(self) -> None:
        """Refill the warm pool after every pass (apart from the passes: making a member
        takes an engine start, which no pass should wait for)."""
        while not self._stop.is_set():
            self._pool_due.wait(self.ctx.settings.reconciler.max_interval.total_seconds())
            self._pool_due.clear()
            if not self._stop.is_set():
                warm_pool.refill_fleet(self.ctx)  # (it logs what fails, and never raises)

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)


#: A pass plans this many recent pass durations ahead (at most LOOKAHEAD_MAX_S): the
#: next pass starts up to one duration later and needs another to finish.
LOOKAHEAD_FACTOR = 2.5
LOOKAHEAD_MAX_S = 2.0


#: Actions after which the next step may be due at once (a failed workspace with its
#: container left is parked as crashed; a finished recovery may leave work to do).
_FOLLOWED_AT_ONCE = (MarkFailed, MarkStopped, MarkRunning, Recover)


@dataclass(frozen=True, slots=True)
class _Work:
    action: AnyAction
    done: _PassResults


class _PassResults:
    """Collects one pass's results as its actions finish; reports when all are in."""

    def __init__(
        self,
        plan: Plan,
        started: datetime,
        began: float,
        on_pass: Callable[[PassReport], None] | None,
    ) -> None:
        self._plan = plan
        self._started = started
        self._began = began
        self._on_pass = on_pass
        self._results: list[Result] = []
        self._lock = threading.Lock()

    def add(self, result: Result) -> None:
        with self._lock:
            self._results.append(result)
            complete = len(self._results) == len(self._plan.actions)
        if complete:
            self.report()

    def report(self) -> None:
        if self._on_pass is None:
            return
        order = {id(a): i for i, a in enumerate(self._plan.actions)}
        results = sorted(self._results, key=lambda r: order[id(r.action)])
        duration = time.monotonic() - self._began
        try:
            self._on_pass(PassReport(self._plan, results, self._started, duration))
        except Exception:  # a reporting bug must not stop the loop
            log.exception("reporting a reconcile pass failed")
