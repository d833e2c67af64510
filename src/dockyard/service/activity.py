"""Activity on a workspace: touch, extend, exec, and what is using it right now.

Every exec counts as activity at its start and its end, and holds an ``exec`` session
for its duration, so a long silent build keeps its workspace alive and shows up as "in
use" to ``stop``. Sessions left ``active`` by a process that died (killed CLI) are
recognised by their holder (``host:pid`` of a process on this host that no longer
exists) and ended before the session limit is enforced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dockyard.core.errors import Conflict, DockyardError, InvalidInput, NotFound, QuotaExceeded
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, Session, SessionKind, SessionStatus, Workspace
from dockyard.core.naming import validate_key
from dockyard.core.policy import extended_deadline, idle_deadline
from dockyard.core.units import format_duration
from dockyard.engine.base import ExecSpec
from dockyard.engine.process import OutputSink, run
from dockyard.service.context import Context
from dockyard.service.identity import holder_is_dead
from dockyard.service.observe import read_cpu, running_execs

log = logging.getLogger("dockyard.activity")


def get_workspace(ctx: Context, key: str) -> Workspace:
    ws = ctx.store.workspaces.get(validate_key(key))
    if ws is None:
        raise NotFound(f"no workspace {key!r}")
    return ws


def require_running(ctx: Context, key: str) -> Workspace:
    ws = get_workspace(ctx, key)
    if ws.state not in ACTIVE_STATES or ws.container_id is None:
        raise _not_running(ws)
    return ws


def _not_running(ws: Workspace) -> Conflict:
    return Conflict(f"workspace {ws.key!r} is {ws.state}; run `dockyard up {ws.key}` first")


#: Touches of one workspace closer together than this are written once: an idle
#: deadline minutes away does not need the second, and agents touch in bursts.
TOUCH_RESOLUTION = timedelta(seconds=1)


def touch(ctx: Context, key: str, *, owner: str | None = None) -> Workspace:
    """Record activity now; the idle deadline moves to now + idle timeout (a touch
    within TOUCH_RESOLUTION of the last recorded one is not written again, so the
    deadline may be up to that much earlier).

    With ``owner``, only that owner's workspace (any other one does not exist)."""
    ws = ctx.store.workspaces.record_activity(
        validate_key(key), at=ctx.now(), coalesce=TOUCH_RESOLUTION, owner=owner
    )
    if ws is not None:
        return ws
    found = ctx.store.workspaces.get(key)
    if found is None or (owner is not None and found.owner != owner):
        raise NotFound(f"no workspace {key!r}")
    raise _not_running(found)


def touched_recently(ctx: Context, key: str, *, owner: str | None = None) -> Workspace | None:
    """What ``touch`` would answer if it has nothing to write (no I/O); otherwise None."""
    return ctx.store.workspaces.recent_activity(
        key, at=ctx.now(), coalesce=TOUCH_RESOLUTION, owner=owner
    )


@dataclass(frozen=True, slots=True)
class Extension:
    workspace: Workspace
    previous_deadline: datetime
    deadline: datetime
    capped: bool


def extend(ctx: Context, key: str, *, by: timedelta) -> Extension:
    """Push the idle deadline forward by ``by`` (never backward, never past the cap)."""
    if by <= timedelta(0):
        raise InvalidInput("extend needs a positive duration")
    for _attempt in range(5):
        ws = require_running(ctx, key)
        policy = ctx.policy_for(ws)
        now = ctx.now()
        before = idle_deadline(ws, policy)
        after = extended_deadline(ws, policy, by=by, now=now)
        capped = after < max(before, now) + by
        updated = replace(ws, extended_until=after, warned_deadline=None)
        if ctx.store.workspaces.save(updated, expect_state=ws.state):
            ctx.emit(
                EventType.WORKSPACE_EXTENDED,
                updated,
                deadline=after.isoformat(),
                by=format_duration(by),
                capped=capped,
            )
            return Extension(updated, before, after, capped)
    raise Conflict(f"workspace {key!r} kept changing; try extending again")


@dataclass(frozen=True, slots=True)
class Usage:
    """What is using a workspace now."""

    sessions: Sequence[Session]
    processes: int

    @property
    def busy(self) -> bool:
        return bool(self.sessions) or self.processes > 0

    def describe(self) -> str:
        parts = []
        if self.sessions:
            kinds = sorted({s.kind.value for s in self.sessions})
            count = len(self.sessions)
            parts.append(f"{count} active session{'s' if count != 1 else ''} ({', '.join(kinds)})")
        if self.processes:
            plural = "es" if self.processes != 1 else ""
            parts.append(f"{self.processes} running exec process{plural}")
        return " and ".join(parts) or "nothing"


def usage(ctx: Context, ws: Workspace) -> Usage:
    """Live sessions (dead holders reaped) and exec processes running in the container."""
    reap_dead_sessions(ctx, ws.key)
    live = ctx.store.sessions.list(workspace_key=ws.key, statuses=[SessionStatus.ACTIVE])
    processes = 0
    if ws.container_id is not None and ws.state in ACTIVE_STATES:
        processes = running_execs(ctx.engine, ws.container_id)
    return Usage(sessions=live, processes=processes)


def dead_holder_sessions(ctx: Context, key: str | None = None) -> list[Session]:
    """Active sessions whose holder is a process on this host that no longer exists."""
    return [
        s
        for s in ctx.store.sessions.list(workspace_key=key, statuses=[SessionStatus.ACTIVE])
        if holder_is_dead(s.holder)
    ]


def reap_dead_sessions(ctx: Context, key: str) -> int:
    """Sessions of dead holders stop counting as live: execs end, the rest are detached."""
    dead = dead_holder_sessions(ctx, key)
    execs = [s.id for s in dead if s.kind is SessionKind.EXEC]
    others = [s.id for s in dead if s.kind is not SessionKind.EXEC]
    return ctx.store.sessions.set_status(execs, SessionStatus.DEAD) + ctx.store.sessions.set_status(
        others, SessionStatus.DETACHED
    )


def exec_in(
    ctx: Context,
    key: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
    tty: bool = False,
    stdin: Iterable[bytes] | None = None,
    on_output: OutputSink | None = None,
    kind: SessionKind = SessionKind.EXEC,
    session: str | None = None,
    on_started: Callable[[str], None] | None = None,
) -> int:
    """Run ``argv`` in the workspace, streaming output; returns the process's exit code.

    The exec holds an ``exec`` session of its own while it runs, or, given ``session``
    (an open session of this workspace), uses that one: its ``last_used`` moves.
    ``on_started`` gets the exec's id once it runs, before any input is sent (a
    terminal sets its size there: ``resize_exec``).
    """
    if not argv:
        raise InvalidInput("exec needs a command")
    ws = require_running(ctx, key)
    policy = ctx.policy_for(ws)
    if session is None:
        held = open_session(
            ctx, ws, kind, " ".join(argv)[:255], limit=policy.max_sessions_per_workspace
        )
    else:
        held = _use(ctx, ws, session)
    try:
        result = run(
            ctx.engine,
            ref=ws.container_id or ws.name,
            spec=ExecSpec(
                argv=list(argv),
                env=dict(env or {}),
                workdir=workdir or ctx.settings.workspace.workdir,
                tty=tty,
                stdin=stdin is not None,
            ),
            stdin=stdin,
            on_output=on_output,
            on_started=on_started,
        )
    except Conflict as exc:
        raise Conflict(
            f"workspace {key!r}: its container is not running ({exc}); run `dockyard up {key}`"
        ) from None
    finally:
        now = ctx.now()
        try:
            if session is None:
                ctx.store.sessions.close(held.id, workspace_key=ws.key, at=now)
            else:
                ctx.store.sessions.use(held.id, workspace_key=ws.key, at=now, holder=ctx.holder)
        except DockyardError as exc:  # the exec's own outcome matters more than bookkeeping
            log.warning("could not close exec session %s of %s: %s", held.id, key, exc)
    return result.exit_code


#: Terminal sizes the engine accepts (rows and columns each).
_TERMINAL_DIMENSION = range(1, 65536)


def resize_exec(ctx: Context, exec_id: str, *, rows: int, cols: int) -> None:
    """Set the terminal size of a running tty exec (a shell follows its window)."""
    if rows not in _TERMINAL_DIMENSION or cols not in _TERMINAL_DIMENSION:
        raise InvalidInput(f"a terminal size is 1..65535 rows and columns, got {rows}x{cols}")
    ctx.engine.exec_resize(exec_id=exec_id, rows=rows, cols=cols)


def _use(ctx: Context, ws: Workspace, session_id: str) -> Session:
    """Use an open (or detached) session of ``ws``; ``NotFound`` if it is not one."""
    session = ctx.store.sessions.get(session_id)
    if session is None or session.workspace_key != ws.key:
        raise NotFound(f"workspace {ws.key!r} has no session {session_id!r}")
    if not ctx.store.sessions.use(
        session.id, workspace_key=ws.key, at=ctx.now(), holder=ctx.holder
    ):
        raise NotFound(f"session {session_id!r} is closed")
    return session


def open_session(
    ctx: Context, ws: Workspace, kind: SessionKind, description: str, *, limit: int
) -> Session:
    """Open a session of ``ws``; ``QuotaExceeded`` if it has ``limit`` live ones after
    the sessions of dead holders were reaped."""
    for _attempt in range(2):
        session = ctx.store.sessions.open(
            workspace_key=ws.key,
            kind=kind,
            holder=ctx.holder,
            at=ctx.now(),
            description=description,
            at_most=limit,
        )
        if session is not None:
            return session
        if not reap_dead_sessions(ctx, ws.key):
            break
    raise QuotaExceeded(
        f"workspace {ws.key!r} has {limit} live sessions, the limit is {limit}; close one first"
    )


@dataclass(frozen=True, slots=True)
class ResourceUse:
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit: int


def resource_use(ctx: Context, key: str, *, window_s: float = 0.2) -> ResourceUse:
    """CPU (percent of one CPU, sampled over ``window_s``) and memory of a running
    workspace; None where the engine cannot tell. Not activity: looking is not using."""
    ws = require_running(ctx, key)
    return resource_sweep(ctx, [ws], window_s=window_s)[ws.key]


def resource_sweep(
    ctx: Context, workspaces: Sequence[Workspace], *, window_s: float = 0.2
) -> dict[str, ResourceUse]:
    """:func:`resource_use` of many running workspaces, sampled in one shared window
    (a fleet costs one window, not one per container)."""
    running = [ws for ws in workspaces if ws.state in ACTIVE_STATES]
    refs = {ws.key: ws.container_id or ws.name for ws in running}
    before = {key: read_cpu(ctx.engine, ref) for key, ref in refs.items()}
    time.sleep(window_s)
    result = {}
    for ws in running:
        ref = refs[ws.key]
        first, after = before[ws.key], read_cpu(ctx.engine, ref)
        cpu = None
        if first is not None and after is not None:
            cpu = round(after.percent_since(first), 1)
        memory = ctx.engine.memory_bytes(container_id=ref)
        result[ws.key] = ResourceUse(cpu, memory, ws.resources.memory_bytes)
    return result
