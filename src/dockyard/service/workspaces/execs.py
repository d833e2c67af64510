"""Running a command in a workspace: streamed output, stdin, a terminal if asked.

Every exec counts as activity at its start and its end, and holds an ``exec`` session
for its duration, so a long silent build keeps its workspace alive and shows up as "in
use" to ``stop``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from dockyard.core.commands import check_command
from dockyard.core.errors import Conflict, DockyardError, InvalidValue
from dockyard.core.model import CloseReason, SessionKind
from dockyard.engine.base import ExecSpec
from dockyard.engine.process import OutputSink, run
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import get_workspace, require_running
from dockyard.service.workspaces.sessions import open_session, use_session

log = logging.getLogger("dockyard.exec")


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
    owner: str | None = None,
) -> int:
    """Run ``argv`` in the workspace, streaming output; returns the process's exit code.

    The exec holds an ``exec`` session of its own while it runs, or, given ``session``
    (an open session of this workspace), uses that one: its ``last_used`` moves.
    ``on_started`` gets the exec's id once it runs, before any input is sent (a
    terminal sets its size there: ``resize_exec``). ``owner``: only that owner's.
    """
    check_command(argv, env or {})
    ws = require_running(ctx, key, owner=owner)
    ctx = ctx.at(ws)
    policy = ctx.policy_for(ws)
    if session is None:
        limit = None if kind is SessionKind.EXEC else policy.max_sessions_per_workspace
        held = open_session(ctx, ws, kind, " ".join(argv)[:255], limit=limit)
    else:
        held = use_session(ctx, ws, session)
    try:
        result = run(
            ctx.engine,
            ref=ws.container_id or ws.name,
            spec=ExecSpec(
                argv=list(argv),
                # a container from the warm pool was made before its key was known
                env={"DOCKYARD_WORKSPACE": ws.key, **(env or {})},
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
                ctx.store.sessions.close(
                    held.id, workspace_key=ws.key, at=now, reason=CloseReason.ENDED
                )
            else:
                ctx.store.sessions.use(held.id, workspace_key=ws.key, at=now, holder=ctx.holder)
        except DockyardError as exc:  # the exec's own outcome matters more than bookkeeping
            log.warning("could not close exec session %s of %s: %s", held.id, key, exc)
    return result.exit_code


#: Terminal sizes the engine accepts (rows and columns each).
_TERMINAL_DIMENSION = range(1, 65536)


def resize_exec(ctx: Context, key: str, exec_id: str, *, rows: int, cols: int) -> None:
    """Set the terminal size of a running tty exec (a shell follows its window)."""
    if rows not in _TERMINAL_DIMENSION or cols not in _TERMINAL_DIMENSION:
        raise InvalidValue(f"a terminal size is 1..65535 rows and columns, got {rows}x{cols}")
    ctx.at(get_workspace(ctx, key)).engine.exec_resize(exec_id=exec_id, rows=rows, cols=cols)
