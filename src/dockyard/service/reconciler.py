"""The reconcile loop: observe -> plan -> execute, level-triggered and idempotent.

``run_pass`` is one pass; ``clean`` runs one, ``dockyard reconcile`` and ``serve`` run the
``Reconciler`` loop, which sleeps until the plan's next deadline (at most
``max_interval``) unless woken: by an API call in the same process, by a datagram on
``<data_dir>/reconciler.sock`` from a CLI command in another, or by the engine's event
stream (a container died: handle it at once).

Execution re-checks every action just before acting, because time passed since the
plan: destructive actions take the workspace's lease (skipping it if someone else holds
it: that someone is using it) and land only if the record's revision is the one the
plan saw, so a touch or an extend that arrives meanwhile wins. Errors are per action;
an unreachable engine or store stops a pass before it plans anything (actions already
under way finish or fail on their own), and the loop retries with backoff. Nothing
here sleeps for a deadline in tests: ``step`` runs one iteration and returns how long
the loop would wait, and scheduled actions start when the injected clock reaches
their moment.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from dockyard.core.actions import (
    Action,
    DeleteCheckpoint,
    KeepAlive,
    MarkFailed,
    MarkRunning,
    MarkStopped,
    Park,
    Reason,
    Recover,
    RemoveContainer,
    Warn,
)
from dockyard.core.errors import Busy, Conflict, DockyardError, NotFound, Unavailable
from dockyard.core.events import Event, EventType
from dockyard.core.model import CONTAINERLESS_STATES, SessionKind, SessionStatus, State, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_WORKSPACE
from dockyard.core.planner import Plan, due_between
from dockyard.core.units import format_duration
from dockyard.service import checkpoints, gc
from dockyard.service.activity import dead_holder_sessions
from dockyard.service.context import Context
from dockyard.service.lifecycle import park_locked
from dockyard.service.locking import SHORT_WAIT
from dockyard.service.objects import discard_container, save_cas
from dockyard.service.observe import (
    installation_labels,
    observe,
    replay_exec_events,
    running_execs,
)
from dockyard.service.timers import Timers

log = logging.getLogger("dockyard.reconciler")

WAKE_SOCKET = "reconciler.sock"


@dataclass(frozen=True, slots=True)
class Result:
    action: Action
    outcome: str  # "done", "skipped" or "failed"
    message: str


@dataclass(frozen=True, slots=True)
class PassReport:
    plan: Plan
    results: list[Result] = field(default_factory=list)
    started_at: datetime | None = None
    duration_s: float = 0.0

    def to_json(self, *, dry_run: bool) -> dict[str, object]:
        """The plan, with each action's outcome if it ran (for ``clean --json`` and the API)."""
        outcomes = {id(r.action): r for r in self.results}
        actions = []
        for action in self.plan.actions:
            entry: dict[str, object] = {
                "action": action.verb,
                "target": action.target,
                "key": action.key,
                "reason": action.reason.value,
                "detail": action.detail,
            }
            result = outcomes.get(id(action))
            if result is not None:
                entry.update(outcome=result.outcome, message=result.message)
            actions.append(entry)
        wakeup = self.plan.next_wakeup
        return {
            "dry_run": dry_run,
            "actions": actions,
            "next_wakeup": wakeup.isoformat() if wakeup else None,
        }


def run_pass(ctx: Context, *, dry_run: bool = False, probe: bool = True) -> PassReport:
    """Observe, plan and (unless ``dry_run``) execute once, waiting for every action."""
    began = time.monotonic()
    started = ctx.now()
    the_plan = observe_and_plan(ctx, replay=not dry_run, probe=probe)
    results: list[Result] = []
    if not dry_run and the_plan.actions:
        workers = min(ctx.settings.reconciler.workers, len(the_plan.actions))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
            results = list(pool.map(lambda a: execute(ctx, a), the_plan.actions))
    return PassReport(the_plan, results, started, time.monotonic() - began)


def observe_and_plan(ctx: Context, *, replay: bool = True, probe: bool = True) -> Plan:
    """What is due now (``replay``: count the engine's recent exec events as activity)."""
    if replay:
        replay_exec_events(ctx)
    return observe(ctx, probe=probe, working_set=True).plan(ctx.policy)


def execute(ctx: Context, action: Action) -> Result:
    """Carry out one action after re-checking it; never raises for a single action."""
    try:
        message = _execute(ctx, action)
    except _Skip as skip:
        return Result(action, "skipped", str(skip))
    except Busy:
        return Result(action, "skipped", "another operation holds the workspace")
    except Conflict as exc:
        return Result(action, "skipped", f"changed since the plan ({exc})")
    except Unavailable:
        raise
    except DockyardError as exc:
        log.warning("%s %s failed: %s", action.kind, action.target, exc)
        return Result(action, "failed", exc.message)
    if message:
        log.info("%s %s: %s", action.kind, action.target, message)
    return Result(action, "done", message)


class _Skip(Exception):
    """The action's precondition no longer holds."""


def _current(ctx: Context, action: Action, revision: int) -> Workspace:
    ws = ctx.store.workspaces.get(action.key or "")
    if ws is None:
        raise _Skip("the workspace is gone")
    if ws.revision != revision:
        raise _Skip("the workspace changed since the plan")
    return ws


def _execute(ctx: Context, action: Action) -> str:
    handler = _HANDLERS[type(action)]
    return handler(ctx, action)


def _warn(ctx: Context, action: Warn) -> str:
    ws = _current(ctx, action, action.revision)
    warned = replace(
        ws.transition(State.WARNED, now=ctx.now(), reason="idle"),
        warned_deadline=action.deadline,
    )
    if not ctx.store.workspaces.save(warned, expect_state=ws.state, expect_revision=ws.revision):
        raise _Skip("the workspace changed since the plan")
    left = action.deadline - ctx.now()
    ctx.emit(
        EventType.WORKSPACE_IDLE_WARNING,
        warned,
        deadline=action.deadline.isoformat(),
        time_left_s=round(left.total_seconds(), 3),
    )
    return f"warned: parks in {format_duration(left)} unless used or extended"


def _park(ctx: Context, action: Park) -> str:
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, action.revision)
        if action.reason in (Reason.IDLE, Reason.SAVE_FAILED) and ws.container_id:
            execs = running_execs(ctx.engine, ws.container_id)
            if execs:
                ctx.store.workspaces.touch(ws.key, at=ctx.now())
                raise _Skip(f"busy: {execs} running exec process(es)")
        park_locked(
            ctx, ws, reason=action.reason, detail=action.detail, expect_revision=ws.revision
        )
    return f"parked ({action.reason}: {action.detail})"


def _keep_alive(ctx: Context, action: KeepAlive) -> str:
    if not ctx.store.workspaces.touch(action.key or "", at=ctx.now()):
        raise _Skip("not running any more")
    return f"kept alive: {action.detail}"


def _mark_stopped(ctx: Context, action: MarkStopped) -> str:
    _mark(ctx, action, action.revision, State.STOPPED, action.detail)
    return "marked stopped"


def _mark_failed(ctx: Context, action: MarkFailed) -> str:
    ws = _mark(ctx, action, action.revision, State.FAILED, action.detail)
    ctx.emit(EventType.WORKSPACE_FAILED, ws, reason=action.reason.value, detail=action.detail)
    return "marked failed"


def _mark_running(ctx: Context, action: MarkRunning) -> str:
    ws = _current(ctx, action, action.revision)
    now = ctx.now()
    running = replace(
        ws.transition(State.RUNNING, now=now, reason=action.detail),
        container_id=action.container_id,
        last_activity_at=now,
        started_at=now,
    )
    if not ctx.store.workspaces.save(running, expect_state=ws.state, expect_revision=ws.revision):
        raise _Skip("the workspace changed since the plan")
    return "adopted its running container"


def _mark(ctx: Context, action: Action, revision: int, to: State, reason: str) -> Workspace:
    ws = _current(ctx, action, revision)
    marked = ws.transition(to, now=ctx.now(), reason=reason)
    if not ctx.store.workspaces.save(marked, expect_state=ws.state, expect_revision=revision):
        raise _Skip("the workspace changed since the plan")
    return marked


def _recover(ctx: Context, action: Recover) -> str:
    # Taking the lease proves its previous holder is gone (a live one keeps renewing it).
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, action.revision)
        if ws.state is State.CREATING:
            discard_container(ctx, ws)
            with suppress(Conflict):
                ctx.engine.remove_volume(name=ws.volume)
            ctx.store.workspaces.delete(ws.key)
            ctx.emit(EventType.WORKSPACE_FAILED, ws, reason="interrupted", detail="creation undone")
            return "undid an interrupted creation"
        if ws.state is State.RESTORING:
            discard_container(ctx, ws)
            save_cas(
                ctx,
                ws.transition(State.PARKED, now=ctx.now(), reason="restore interrupted"),
                expect=State.RESTORING,
            )
            return "an interrupted restore went back to parked"
        if ws.state is State.PARKING:
            park_locked(ctx, ws, reason=Reason.INTERRUPTED, detail="finishing an interrupted park")
            return "finished an interrupted park"
    raise _Skip(f"it is {ws.state} now")


def _remove_container(ctx: Context, action: RemoveContainer) -> str:
    try:
        info = ctx.engine.inspect_container(ref=action.container_id)
    except NotFound:
        return "already gone"
    if info.labels.get(LABEL_INSTALLATION) != ctx.installation:
        raise _Skip("not this installation's container")  # never, but never is cheap to check
    key = info.labels.get(LABEL_WORKSPACE)
    if key:
        with ctx.lock(key, wait=SHORT_WAIT):
            ws = ctx.store.workspaces.get(key)
            if ws is not None and ws.state not in CONTAINERLESS_STATES and ws.name == info.name:
                raise _Skip(f"workspace {key!r} claims it now ({ws.state})")
            ctx.engine.remove_container(ref=action.container_id)
    else:
        ctx.engine.remove_container(ref=action.container_id)
    ctx.bus.publish(
        Event(
            type=EventType.ORPHAN_REMOVED,
            at=ctx.now(),
            workspace_key=key,
            data={"container": info.name, "reason": action.reason.value, "detail": action.detail},
        )
    )
    return f"removed {info.name} ({action.reason}: {action.detail})"


def _delete_checkpoint(ctx: Context, action: DeleteCheckpoint) -> str:
    key = action.key or ""
    with ctx.lock(key, wait=SHORT_WAIT):
        checkpoint = ctx.store.checkpoints.get(action.checkpoint_id)
        if checkpoint is None:
            return "already gone"
        ws = ctx.store.workspaces.get(key)
        if action.reason is Reason.EXPIRED and ctx.now() < checkpoint.expires_at:
            raise _Skip("not expired any more")
        if action.reason is Reason.LEFTOVER and (
            checkpoint.verified or (ws is not None and ws.state is State.PARKING)
        ):
            raise _Skip("its save is at work again")
        if action.reason is Reason.ORPHAN and ws is not None:
            raise _Skip("its workspace exists again")
        checkpoints.delete(ctx, ws, checkpoint, reason=action.reason.value)
        if ws is not None and ws.checkpoint_id == checkpoint.id:
            _repoint(ctx, ws, deleted=checkpoint.id)
    return f"deleted checkpoint {checkpoint.id} ({action.reason}: {action.detail})"


def _repoint(ctx: Context, ws: Workspace, *, deleted: str) -> None:
    """The workspace's newest checkpoint is gone: point at the next newest; a parked
    workspace with none left has ``expired`` (its next ``up`` starts over)."""
    newest = checkpoints.newest_verified(ctx, ws.key, excluding=deleted)
    updated = replace(ws, checkpoint_id=newest.id if newest else None)
    if newest is None and ws.state is State.PARKED:
        updated = replace(
            ws.transition(State.EXPIRED, now=ctx.now(), reason="its checkpoints expired"),
            checkpoint_id=None,
        )
    if not ctx.store.workspaces.save(updated, expect_state=ws.state, expect_revision=ws.revision):
        raise Conflict(f"workspace {ws.key!r} changed while its checkpoint was deleted")


_HANDLERS: dict[type[Action], Callable[[Context, Any], str]] = {
    Warn: _warn,
    Park: _park,
    KeepAlive: _keep_alive,
    MarkStopped: _mark_stopped,
    MarkFailed: _mark_failed,
    MarkRunning: _mark_running,
    Recover: _recover,
    RemoveContainer: _remove_container,
    DeleteCheckpoint: _delete_checkpoint,
}


# -- restart recovery -----------------------------------------------------------------------


def recover_sessions(ctx: Context) -> int:
    """Sessions whose holder process died: shells and agents are ``detached`` (they can
    reattach to the still-running container), execs are over (``dead``)."""
    changed = 0
    for session in dead_holder_sessions(ctx):
        status = SessionStatus.DEAD if session.kind is SessionKind.EXEC else SessionStatus.DETACHED
        changed += ctx.store.sessions.set_status([session.id], status)
    return changed


# -- the loop -------------------------------------------------------------------------------


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
        self._pass_s = 0.0  # recent pass duration (moving average)
        self._replayed = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def lead(self) -> timedelta:
        """How far ahead a pass plans: enough for the next pass to see what follows."""
        if self._fixed_lead is not None:
            return self._fixed_lead
        return timedelta(seconds=min(LOOKAHEAD_FACTOR * self._pass_s, LOOKAHEAD_MAX_S))

    def step(self) -> float:
        """One pass (its actions dispatched, not awaited); returns the seconds to wait
        before the next one."""
        max_wait = self.ctx.settings.reconciler.max_interval.total_seconds()
        began = time.monotonic()
        started = self.ctx.now()
        lead = self.lead
        horizon = started + lead
        try:
            if not self._replayed:  # the event watcher counts exec activity from now on
                replay_exec_events(self.ctx)
                self._replayed = True
            with self._claims:
                claimed = set(self._claimed)
            observation = observe(
                self.ctx,
                probe=True,
                horizon=horizon,
                working_set=True,
                busy_elsewhere=claimed,
            )
            plan = observation.plan(self.ctx.policy)
            ahead = []
            if lead:
                later = observation.plan(self.ctx.policy, at=horizon)
                ahead = due_between(plan, later, horizon)
        except Unavailable as exc:
            wait = self._backoff
            self._backoff = min(self._backoff * 2, max_wait)
            self.status.last_error = exc.message
            log.warning("reconcile pass skipped, nothing done: %s (retrying in %.0fs)", exc, wait)
            return wait
        self._backoff = 1.0
        self._dispatch(plan, ahead, started, began)
        elapsed = time.monotonic() - began
        self._pass_s = elapsed if not self.status.passes else 0.7 * self._pass_s + 0.3 * elapsed
        self.status.passes += 1
        self.status.last_pass_at = started
        self.status.last_pass_s = elapsed
        self.status.next_wakeup = plan.next_wakeup
        self.status.last_error = None
        self._scheduled_gc()
        wakeup = self._next_unclaimed(plan)
        if wakeup is None:
            return max_wait
        # wake early enough that the pass ends before the moment, which it schedules
        until = (wakeup - self.ctx.now() - lead / 2).total_seconds()
        return min(max(until, 0.0), max_wait)

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
        ahead: list[tuple[datetime, Action]],
        started: datetime,
        began: float,
    ) -> None:
        now: list[Action] = []
        later: list[tuple[datetime, Action]] = []
        with self._claims:
            for at, action in [(None, a) for a in plan.actions] + list(ahead):
                claim = _claim(action)
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
                self._claimed[_claim(work.action)] = future
        if future is None:
            self._finish(work, Result(work.action, "skipped", "the reconciler stopped first"))
        else:
            future.add_done_callback(partial(self._finished, work))

    def _finished(self, work: _Work, future: Future[Result]) -> None:
        action = work.action
        if future.cancelled():
            result = Result(action, "skipped", "the reconciler stopped first")
        else:
            try:
                result = future.result()
            except DockyardError as exc:  # Unavailable: the next pass finds out and backs off
                result = Result(action, "failed", exc.message)
            except Exception as exc:  # a bug: say so, and keep the loop and its report whole
                log.exception("%s %s failed unexpectedly", action.kind, action.target)
                result = Result(action, "failed", f"unexpected error: {exc!r}")
        self._finish(work, result)

    def _finish(self, work: _Work, result: Result) -> None:
        """Report the result, then release the claim (so ``settle`` sees both)."""
        work.done.add(result)
        claim = _claim(work.action)
        with self._claims:
            self._claimed.pop(claim, None)
            wanted = claim in self._wanted
            self._wanted.discard(claim)
            self._claims.notify_all()
        if wanted or isinstance(work.action, _FOLLOWED_AT_ONCE):
            self.wake()

    def _scheduled_gc(self) -> None:
        try:
            results = gc.run_if_due(self.ctx)
        except DockyardError as exc:
            log.warning("scheduled gc skipped: %s", exc)
            return
        for result in results or ():
            log.info(
                "gc %s %s: %s %s", result.item.kind, result.item.name, result.outcome, result.detail
            )

    def run(self) -> None:
        """Loop until ``stop``; starts the event watcher and the wake socket."""
        self.status.running = True
        try:
            recovered = recover_sessions(self.ctx)
            if recovered:
                log.info("%d sessions of a previous manager are detached", recovered)
        except DockyardError as exc:
            log.warning("session recovery skipped: %s", exc)
        self._start(self._watch_engine_events, "engine-events")
        self._start(self._listen_for_wakeups, "wake-socket")
        try:
            while not self._stop.is_set():
                wait = self.step()
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            for work in self._timers.close():
                self._finish(work, Result(work.action, "skipped", "the reconciler stopped first"))
            self._pool.shutdown(wait=True, cancel_futures=True)  # the actions under way finish
            self.status.running = False

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch_engine_events(self) -> None:
        """Exec and attach events are activity; a container dying is handled at once."""
        since = self.ctx.now()
        window = timedelta(seconds=2)
        while not self._stop.is_set():
            until = self.ctx.now() + window
            try:
                with self.ctx.engine.events(
                    since=since, until=until, labels=installation_labels(self.ctx)
                ) as events:
                    for event in events:
                        self._on_engine_event(event.action, event.attributes)
                since = until
            except DockyardError as exc:
                log.debug("engine event stream interrupted: %s", exc)
                self._stop.wait(self._backoff)

    def _on_engine_event(self, action: str, attributes: Mapping[str, str]) -> None:
        key = attributes.get(LABEL_WORKSPACE)
        if action.startswith("exec_") or action == "attach":
            if key:
                with suppress(DockyardError):
                    self.ctx.store.workspaces.touch(key, at=self.ctx.now())
        elif action in {"die", "oom", "destroy", "remove", "kill"}:
            self.wake()

    def _listen_for_wakeups(self) -> None:
        path = self.ctx.settings.data_dir / WAKE_SOCKET
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            with suppress(FileNotFoundError):
                path.unlink()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                sock.bind(str(path))
            except OSError as exc:
                log.info("no wake socket (%s); other processes cannot wake this loop", exc)
                return
            sock.settimeout(1.0)
            try:
                while not self._stop.is_set():
                    try:
                        sock.recv(64)
                    except TimeoutError:
                        continue
                    self.wake()
            finally:
                with suppress(FileNotFoundError):
                    path.unlink()


#: A pass plans this many recent pass durations ahead (at most LOOKAHEAD_MAX_S): the
#: next pass starts up to one duration later and needs another to finish.
LOOKAHEAD_FACTOR = 2.5
LOOKAHEAD_MAX_S = 2.0


#: Actions after which the next step may be due at once (a failed workspace with its
#: container left is parked as crashed; a finished recovery may leave work to do).
_FOLLOWED_AT_ONCE = (MarkFailed, MarkStopped, MarkRunning, Recover)


def _claim(action: Action) -> str:
    """What an action works on: one action at a time per workspace (or container)."""
    return action.key or action.target


@dataclass(frozen=True, slots=True)
class _Work:
    action: Action
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


def notify(data_dir: Path) -> None:
    """Wake a reconciler running on this data directory, if any (best effort, instant)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, suppress(OSError):
        sock.setblocking(False)
        sock.sendto(b"wake", str(data_dir / WAKE_SOCKET))
