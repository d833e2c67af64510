"""The local terminal lent to a process in a workspace: raw keys in, its size followed.

While a remote tty owns the terminal, every key goes to it as typed (Ctrl-C included:
it interrupts the remote process, not dockyard) and the local window's size is sent
when the process starts and whenever the window changes (SIGWINCH). The terminal's
modes are restored however the session ends.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from contextlib import suppress
from types import FrameType, TracebackType
from typing import Any

from dockyard.core.errors import DockyardError

log = logging.getLogger("dockyard.cli")

Resize = Callable[[str, int, int], None]
"""Sets the size of the exec ``id`` to ``rows`` x ``cols``."""

_Handler = Callable[[int, FrameType | None], Any] | int | None


def is_terminal() -> bool:
    """Both standard input and output are a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def input_chunks() -> Iterator[bytes]:
    """Standard input as it arrives, until end of file."""
    fd = sys.stdin.fileno()
    while chunk := os.read(fd, 65536):
        yield chunk


class RemoteTerminal:
    """Context manager: the local terminal lent to the exec announced by ``started``, in
    raw mode from then on, its size forwarded.

    Raw mode begins when the remote process runs, not before: by then its session is
    open and the exec's own cleanup is armed, so a SIGTERM from then on always ends the
    session (before, it could land between the session's opening and that cleanup).

    The SIGWINCH handler only queues a wake-up: the resize request goes from a thread of
    its own, never from a handler that may have interrupted a request of the main
    thread (the engine transport keeps one connection per thread). SIGTERM and SIGHUP
    end the session like the process's end would, so the modes are restored then too."""

    def __init__(self, resize: Resize) -> None:
        self._resize = resize
        self._in = sys.stdin.fileno()
        self._out = sys.stdout.fileno()
        self._exec_id: str | None = None
        self._saved: list[Any] | None = None
        self._previous: dict[signal.Signals, _Handler] = {}
        self._wakeups: queue.SimpleQueue[bool] = queue.SimpleQueue()  # put() is reentrant
        self._follower = threading.Thread(target=self._follow, name="terminal-size", daemon=True)

    def __enter__(self) -> RemoteTerminal:
        self._saved = termios.tcgetattr(self._in)
        self._follower.start()
        self._previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, self._on_winch)
        for ending in (signal.SIGTERM, signal.SIGHUP):
            self._previous[ending] = signal.signal(ending, _end_session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._wakeups.put(False)
        if self._saved is not None:
            with suppress(termios.error, OSError):  # after SIGHUP the terminal may be gone
                termios.tcsetattr(self._in, termios.TCSADRAIN, self._saved)

    def started(self, exec_id: str) -> None:
        """The remote process runs: keys go to it raw, with this terminal's size (both
        before any key is read)."""
        tty.setraw(self._in, termios.TCSANOW)
        self._exec_id = exec_id
        self._send_size()

    def _on_winch(self, _signum: int, _frame: FrameType | None) -> None:
        self._wakeups.put(True)

    def _follow(self) -> None:
        while self._wakeups.get():
            with suppress(queue.Empty):  # a burst of changes (a window dragged): one request
                while True:
                    if not self._wakeups.get_nowait():
                        return
            self._send_size()

    def _send_size(self) -> None:
        exec_id = self._exec_id
        if exec_id is None:
            return
        try:
            size = os.get_terminal_size(self._out)
            self._resize(exec_id, size.lines, size.columns)
        except (DockyardError, OSError) as exc:  # it ended meanwhile, or a refusal: go on
            log.debug("could not resize the terminal of exec %s: %s", exec_id, exc)


def _end_session(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
