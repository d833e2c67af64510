"""A session's processes in its container, over the engine: starting the command shell,
a channel to it, an interrupt, and the end of them all (``core.framing`` has the scripts).
"""

from __future__ import annotations

import queue
import threading
from contextlib import suppress

from dockyard.core.errors import Conflict, EngineError, NotFound
from dockyard.core.framing import (
    CHANNEL,
    CLOSE,
    INTERRUPT,
    START_COMMAND_SHELL,
    script_argv,
)
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.process import run

#: Output chunks a channel holds for its reader.
BACKLOG = 256


def start_command_shell(engine: Engine, *, ref: str, session_id: str, workdir: str) -> int:
    """Start the persistent shell of a ``command`` session; returns its process group."""
    spec = ExecSpec(argv=script_argv(START_COMMAND_SHELL, session_id), workdir=workdir)
    exec_id = engine.exec_create(ref=ref, spec=spec)
    stream = engine.exec_start(exec_id=exec_id, tty=False)
    said = b""
    try:
        for _kind, data in stream.frames():  # ends once the script lets go of its output
            said += data
            if b"\n" in said:
                break
    finally:
        stream.close()
    words = said.split()
    if len(words) != 2 or words[0] != b"ready" or not words[1].isdigit():
        text = said.decode(errors="replace").strip() or "nothing"
        raise EngineError(f"the session's shell did not start (it said: {text[:200]})")
    return int(words[1])


def interrupt(engine: Engine, *, ref: str, session_id: str) -> None:
    """SIGINT to the session's process group: the command in flight ends, the shell stays."""
    run(engine, ref=ref, spec=ExecSpec(argv=script_argv(INTERRUPT, session_id)))


def end_processes(engine: Engine, *, ref: str, session_id: str) -> None:
    """End the session's processes and remove its files; a container that is gone or
    stopped took them with it already."""
    with suppress(NotFound, Conflict):  # a 404 or 409: no container, or not running
        run(engine, ref=ref, spec=ExecSpec(argv=script_argv(CLOSE, session_id)))


class Channel:
    """An attached exec relaying a command shell's input and output. Output is read by
    a thread into a queue, so a reader can wait for it with a timeout; ``None`` in the
    queue means the channel ended (another took over, or the container stopped)."""

    def __init__(self, engine: Engine, *, ref: str, session_id: str) -> None:
        spec = ExecSpec(argv=script_argv(CHANNEL, session_id), stdin=True)
        exec_id = engine.exec_create(ref=ref, spec=spec)
        self._stream = engine.exec_start(exec_id=exec_id, tty=False)
        self._chunks: queue.Queue[bytes | None] = queue.Queue(BACKLOG)
        self.ended = False
        #: a command reads now: output waits for it (else the oldest is dropped: it is
        #: what background jobs print between commands, skipped by the next one anyway)
        self.reading = False
        self._reader = threading.Thread(target=self._read, name="session-channel", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for _kind, data in self._stream.frames():
                self._offer(data)
        except (OSError, EngineError):
            pass
        finally:
            self.ended = True  # a command that comes after opens a new channel
            self._offer(None)

    def _offer(self, data: bytes | None) -> None:
        while True:
            try:
                self._chunks.put(data, timeout=0.5 if self.reading else 0)
            except queue.Full:
                if not self.reading:
                    with suppress(queue.Empty):
                        self._chunks.get_nowait()
            else:
                return

    def send(self, data: bytes) -> bool:
        """Whether ``data`` went out (False: the channel is gone)."""
        try:
            self._stream.send(data)
        except OSError:
            self.ended = True
            return False
        return True

    def receive(self, timeout_s: float) -> bytes | None:
        """The next output, ``b""`` if none came within ``timeout_s``, ``None`` once the
        channel ended."""
        try:
            chunk = self._chunks.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return b""
        if chunk is None:
            self._offer(None)  # and for every later read
        return chunk

    def close(self) -> None:
        self.ended = True
        self._stream.close()
