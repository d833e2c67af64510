"""Shell sessions: an interactive shell on a PTY, held by this process (``serve``).

The output of each live terminal goes to whoever is attached and into a bounded buffer
of recent output, so a client that reconnects repaints the screen. A terminal lives as
long as this process and its shell: after a restart the session is ``detached``, and
attaching starts a new shell in the same workspace (its files are where they were).
Input, and output while someone is attached, is a use of the session (recorded at most
every ``USE_EVERY_S``): a terminal someone watches is not closed as inactive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from dockyard.core.errors import DockyardError, EngineError, InvalidInput
from dockyard.core.framing import START_TERMINAL, script_argv
from dockyard.core.model import CloseReason, Session, SessionKind, Workspace
from dockyard.engine.base import Engine, ExecSpec
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces.sessions import close_record, live_session, use_session

#: Recent output kept per terminal for a reconnecting client.
REPLAY_MAX = 64 * 1024
#: Input records a use of the session at most this often.
USE_EVERY_S = 10.0

Listener = Callable[[bytes | None], None]
"""Gets the terminal's output as it comes; ``None`` once its shell ended."""


class Terminal:
    def __init__(
        self, engine: Engine, *, ref: str, session_id: str, workdir: str, size: tuple[int, int]
    ) -> None:
        spec = ExecSpec(
            argv=script_argv(START_TERMINAL, session_id),
            env={"TERM": "xterm-256color"},
            workdir=workdir,
            tty=True,
            stdin=True,
        )
        check_size(*size)
        self._engine = engine
        self.session_id = session_id
        self.exec_id = engine.exec_create(ref=ref, spec=spec)
        self._stream = engine.exec_start(exec_id=self.exec_id, tty=True)
        try:
            self.resize(*size)
        except DockyardError:
            self._stream.close()
            raise
        self._lock = threading.Lock()
        self._recent = bytearray()
        self._listeners: list[Listener] = []
        self.ended = False
        self.on_end: Callable[[], None] | None = None
        #: records a use of the session (set by whoever opened it)
        self.on_use: Callable[[], None] | None = None
        self._used_at = 0.0
        threading.Thread(target=self._read, name="terminal", daemon=True).start()

    def used(self) -> None:
        """Keystrokes, or output someone watches: a use, recorded every ``USE_EVERY_S``."""
        now = time.monotonic()
        if self.on_use is not None and now - self._used_at >= USE_EVERY_S:
            self._used_at = now
            with suppress(DockyardError):  # the terminal matters more than its bookkeeping
                self.on_use()

    def _read(self) -> None:
        try:
            for _kind, data in self._stream.frames():
                with self._lock:
                    self._recent += data
                    del self._recent[:-REPLAY_MAX]
                    listeners = list(self._listeners)
                for listener in listeners:
                    listener(data)
                if listeners:
                    self.used()
        except (OSError, EngineError):
            pass
        with self._lock:
            self.ended = True
            listeners = list(self._listeners)
        for listener in listeners:
            listener(None)
        if self.on_end is not None:
            self.on_end()

    def attach(self, listener: Listener) -> bytes:
        """Add ``listener``; returns the recent output to repaint with."""
        with self._lock:
            self._listeners.append(listener)
            return bytes(self._recent)

    def detach(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def send(self, data: bytes) -> None:
        self._stream.send(data)

    def resize(self, rows: int, cols: int) -> None:
        check_size(rows, cols)
        self._engine.exec_resize(exec_id=self.exec_id, rows=rows, cols=cols)

    def close(self) -> None:
        self._stream.close()


def check_size(rows: int, cols: int) -> None:
    if not (0 < rows < 65536 and 0 < cols < 65536):
        raise InvalidInput(f"a terminal size is 1..65535 rows and columns, got {rows}x{cols}")


@dataclass(frozen=True, slots=True)
class Attachment:
    terminal: Terminal
    session: Session
    replay: bytes
    #: a new shell was started (none was live in this process: a first attach, or one
    #: after a restart of the manager)
    started: bool


_terminals: dict[str, Terminal] = {}
_terminals_lock = threading.Lock()


def attach_terminal(
    ctx: Context,
    session_id: str,
    listener: Listener,
    *,
    size: tuple[int, int] = (24, 80),
    owner: str | None = None,
) -> Attachment:
    """Attach ``listener`` to the shell session's terminal, starting its shell if this
    process holds none for it; the attach is a use of the session."""
    session, ws = live_session(ctx, session_id, SessionKind.SHELL, owner=owner)
    ctx = ctx.at(ws)
    use_session(ctx, ws, session.id)
    with _terminals_lock:
        terminal = _terminals.get(session.id)
        started = terminal is None or terminal.ended
        if terminal is None or terminal.ended:
            terminal = Terminal(
                ctx.engine,
                ref=ws.container_id or ws.name,
                session_id=session.id,
                workdir=ctx.settings.workspace.workdir,
                size=size,
            )
            terminal.on_end = lambda: _ended(ctx, ws, session)
            terminal.on_use = lambda: _use(ctx, session)
            _terminals[session.id] = terminal
        else:
            terminal.resize(*size)
    return Attachment(terminal, session, terminal.attach(listener), started)


def terminal_input(attachment: Attachment, data: bytes) -> None:
    """Keystrokes for the terminal: a use of its session (recorded now and then)."""
    attachment.terminal.send(data)
    attachment.terminal.used()


def _use(ctx: Context, session: Session) -> None:
    ctx.store.sessions.use(
        session.id, workspace_key=session.workspace_key, at=ctx.now(), holder=ctx.holder
    )


def resize_terminal(attachment: Attachment, rows: int, cols: int) -> None:
    attachment.terminal.resize(rows, cols)


def detach_terminal(attachment: Attachment, listener: Listener) -> None:
    """The client went away: its terminal lives on for the next attach."""
    attachment.terminal.detach(listener)


def _ended(ctx: Context, ws: Workspace, session: Session) -> None:
    """The shell exited (``exit``, the container stopped): its session is over."""
    with _terminals_lock:
        if _terminals.get(session.id) is not None and _terminals[session.id].ended:
            del _terminals[session.id]
    current = ctx.store.sessions.get(session.id)
    if current is not None and current.live:
        close_record(ctx, ws, current, CloseReason.ENDED)


def drop_terminal(session_id: str) -> None:
    """Close this process's terminal of a session (the session is being closed)."""
    with _terminals_lock:
        terminal = _terminals.pop(session_id, None)
    if terminal is not None:
        terminal.on_end = None
        terminal.close()


def close_terminals() -> None:
    """Close every terminal this process holds (their sessions become ``detached``
    for the next process)."""
    with _terminals_lock:
        terminals = list(_terminals.values())
        _terminals.clear()
    for terminal in terminals:
        terminal.on_end = None
        terminal.close()
