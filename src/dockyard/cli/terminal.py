"""The local terminal lent to a process in a workspace: raw keys in, its size followed.

While a remote tty owns the terminal, every key goes to it as typed (Ctrl-C included:
it interrupts the remote process, not dockyard) and the local window's size is sent
when the process starts and whenever the window changes (SIGWINCH). The terminal's
modes are restored however the session ends.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
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
    """Context manager: the local terminal in raw mode, its size forwarded to the exec
    announced by ``started``."""

    def __init__(self, resize: Resize) -> None:
        self._resize = resize
        self._in = sys.stdin.fileno()
        self._out = sys.stdout.fileno()
        self._exec_id: str | None = None
        self._saved: list[Any] | None = None
        self._previous: _Handler = None

    def __enter__(self) -> RemoteTerminal:
        self._saved = termios.tcgetattr(self._in)
        self._previous = signal.signal(signal.SIGWINCH, self._on_winch)
        tty.setraw(self._in, termios.TCSANOW)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.signal(signal.SIGWINCH, signal.SIG_DFL if self._previous is None else self._previous)
        if self._saved is not None:
            termios.tcsetattr(self._in, termios.TCSADRAIN, self._saved)

    def started(self, exec_id: str) -> None:
        """The remote process runs: give it this terminal's size."""
        self._exec_id = exec_id
        self._send_size()

    def _on_winch(self, _signum: int, _frame: FrameType | None) -> None:
        self._send_size()

    def _send_size(self) -> None:
        if self._exec_id is None:
            return
        size = os.get_terminal_size(self._out)
        try:
            self._resize(self._exec_id, size.lines, size.columns)
        except DockyardError as exc:  # it ended meanwhile, or the engine refused: keep going
            log.debug("could not resize the terminal of exec %s: %s", self._exec_id, exc)
