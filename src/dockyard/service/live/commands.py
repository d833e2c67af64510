"""Command sessions: a persistent shell in the workspace that runs one command after
another, keeping its working directory, environment and background jobs.

A command costs a write and a read on a channel this process keeps open (no exec per
command); each is a use of the session at its start and its end, and while it runs the
session is in use (``running_since``), which also serialises commands: a second one
sent meanwhile is ``Busy``. A command past its timeout is interrupted (SIGINT to the
session's process group); one that will not stop within ``STOP_GRACE_S`` of that ends
the session. Channels live as long as this process (``close_channels``) or until
another process takes the session over.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from dockyard.core.errors import Busy, DockyardError, InvalidValue, NotFound
from dockyard.core.framing import Finished, Reader, check_command, frame, interrupted_frame
from dockyard.core.model import CloseReason, Session, SessionKind, Workspace
from dockyard.service.live.processes import (
    Channel,
    end_processes,
    interrupt,
    start_command_shell,
)
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import require_running
from dockyard.service.workspaces.sessions import (
    announce_opened,
    close_record,
    live_session,
    open_session,
    reap_dead_sessions,
    session_and_workspace,
)

#: A command's timeout unless the caller gives one, and the longest it may ask for.
DEFAULT_TIMEOUT_S = 300.0
MAX_TIMEOUT_S = 24 * 3600.0
#: After the interrupt, how long a command may take to stop before its session ends.
STOP_GRACE_S = 3.0
#: Output kept for a result that is not streamed; the rest is counted, not kept.
OUTPUT_MAX = 1024 * 1024

OutputSink = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class CommandResult:
    session: str
    #: None when the session's shell ended before the command did
    exit_code: int | None
    output: bytes
    cwd: str | None
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    #: the shell is gone (``exit``, a command that would not stop, its container went)
    session_ended: bool = False

    def to_json(self) -> dict[str, object]:
        """As the API answers and ``dockyard run --json`` prints it."""
        return {
            "session": self.session,
            "exit_code": self.exit_code,
            "output": self.output.decode(errors="replace"),
            "cwd": self.cwd,
            "timed_out": self.timed_out,
            "truncated": self.truncated,
            "session_ended": self.session_ended,
            "duration_s": round(self.duration_s, 6),
        }


def open_command_session(
    ctx: Context, key: str, *, description: str = "", owner: str | None = None
) -> Session:
    """Open a ``command`` session of the running workspace ``key`` and start its shell."""
    ws = require_running(ctx, key, owner=owner)
    ctx = ctx.at(ws)
    policy = ctx.policy_for(ws)
    session = open_session(
        ctx, ws, SessionKind.COMMAND, description, limit=policy.max_sessions_per_workspace
    )
    try:
        start_command_shell(
            ctx.engine,
            ref=_ref(ws),
            session_id=session.id,
            workdir=ctx.settings.workspace.workdir,
        )
    except DockyardError:
        close_record(ctx, ws, session, CloseReason.ENDED)
        raise
    announce_opened(ctx, ws, session)
    return session


def run_command(
    ctx: Context,
    session_id: str,
    command: str,
    *,
    timeout_s: float | None = None,
    on_output: OutputSink | None = None,
    owner: str | None = None,
) -> CommandResult:
    """Run ``command`` in the command session ``session_id`` and wait for it.

    With ``on_output`` the output goes there as it comes (and is not kept)."""
    check_command(command)
    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise InvalidValue(f"a command's timeout is more than 0 and at most {MAX_TIMEOUT_S:g} s")
    session, ws = live_session(ctx, session_id, SessionKind.COMMAND, owner=owner)
    ctx = ctx.at(ws)
    _begin(ctx, ws, session)
    result: CommandResult | None = None
    try:
        result = _run(ctx, ws, session.id, command, timeout_s=timeout, on_output=on_output)
    except BaseException:  # the caller went away (Ctrl-C, a dropped stream): stop it too
        with suppress(DockyardError, OSError):
            interrupt(ctx.engine, ref=_ref(ws), session_id=session.id)
        raise
    finally:
        _finish(ctx, ws, session, ended=result is not None and result.session_ended)
    return result


def interrupt_command(ctx: Context, session_id: str, *, owner: str | None = None) -> bool:
    """SIGINT to the command in flight in a command session; whether one was."""
    session, ws = session_and_workspace(ctx, session_id, owner=owner)
    if session.running_since is None or ws.container_id is None:
        return False
    interrupt(ctx.at(ws).engine, ref=ws.container_id, session_id=session.id)
    return True


def _finish(ctx: Context, ws: Workspace, session: Session, *, ended: bool) -> None:
    """The command is over: the session's last use, or its end (its shell is gone)."""
    if not ended:
        ctx.store.sessions.use(
            session.id, workspace_key=ws.key, at=ctx.now(), holder=ctx.holder, running=False
        )
        return
    try:
        end_processes(ctx.engine, ref=_ref(ws), session_id=session.id)
    finally:
        close_record(ctx, ws, session, CloseReason.ENDED)


def _begin(ctx: Context, ws: Workspace, session: Session) -> None:
    """Mark the command in flight; ``Busy`` if one is already (by a live holder)."""
    for _attempt in range(2):
        if ctx.store.sessions.use(
            session.id, workspace_key=ws.key, at=ctx.now(), holder=ctx.holder, running=True
        ):
            return
        current = ctx.store.sessions.get(session.id)
        if current is None or not current.live:
            raise NotFound(f"session {session.id} is closed")
        if not reap_dead_sessions(ctx, ws.key):
            break
    raise Busy(f"session {session.id} is running a command; wait for it or use another session")


def _run(
    ctx: Context,
    ws: Workspace,
    session_id: str,
    command: str,
    *,
    timeout_s: float,
    on_output: OutputSink | None,
) -> CommandResult:
    began = time.monotonic()
    token = secrets.token_hex(8)
    reader = Reader(token)
    kept: list[bytes] = []
    size = 0
    channel = _channel(ctx, ws, session_id)
    if not channel.send(frame(command, token)):  # it ended unseen (its container restarted)
        drop_channel(session_id)
        channel = _channel(ctx, ws, session_id)
        channel.send(frame(command, token))
    deadline = began + timeout_s
    interrupted = False
    channel.reading = True
    try:
        while reader.end is None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if interrupted:
                    break  # it would not stop: the session ends
                interrupt(ctx.engine, ref=_ref(ws), session_id=session_id)
                if not channel.send(interrupted_frame(token)):
                    break
                interrupted, deadline = True, time.monotonic() + STOP_GRACE_S
                continue
            chunk = channel.receive(wait)
            if chunk is None:
                break  # the channel ended under us: another process took the session
            out = reader.feed(chunk)
            if out and on_output is not None:
                on_output(out)
            elif out:
                kept.append(out[: max(0, OUTPUT_MAX - size)])
                size += len(out)
    finally:
        channel.reading = False
    duration = time.monotonic() - began
    end = reader.end
    output = b"".join(kept)
    truncated = size > OUTPUT_MAX
    if isinstance(end, Finished):
        return CommandResult(
            session_id, end.exit_code, output, end.cwd, duration, interrupted, truncated
        )
    drop_channel(session_id)
    if end is None and not interrupted:
        raise Busy(f"session {session_id} was taken over by another process during the command")
    return CommandResult(
        session_id, None, output, None, duration, interrupted, truncated, session_ended=True
    )


def _ref(ws: Workspace) -> str:
    return ws.container_id or ws.name


_channels: dict[str, Channel] = {}
_channels_lock = threading.Lock()


def _channel(ctx: Context, ws: Workspace, session_id: str) -> Channel:
    """This process's channel to the session, opened if it has none (or it ended). One
    command at a time holds a session (``_begin``), so no two callers open one for the
    same session; opening (an exec) is outside the lock, so sessions open in parallel."""
    with _channels_lock:
        channel = _channels.get(session_id)
    if channel is None or channel.ended:
        if channel is not None:
            channel.close()
        channel = Channel(ctx.engine, ref=_ref(ws), session_id=session_id)
        with _channels_lock:
            _channels[session_id] = channel
    return channel


def drop_channel(session_id: str) -> None:
    """Close this process's channel to a session (it is closed, or its shell ended)."""
    with _channels_lock:
        channel = _channels.pop(session_id, None)
    if channel is not None:
        channel.close()


def close_channels() -> None:
    """Close every channel this process holds (the sessions' shells go on)."""
    with _channels_lock:
        channels = list(_channels.values())
        _channels.clear()
    for channel in channels:
        channel.close()
