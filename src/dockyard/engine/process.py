"""Running a process inside a container to completion, over any ``Engine``.

``run`` is the one way dockyard runs commands in workspaces: provisioning (clone,
checkout), saves (git commit, bundle) and the user's own ``exec``. Output is either
collected (for dockyard's own commands) or handed to callbacks as it arrives (for the
user's). Standard input, if given, is pumped from a thread so that a process that
writes before it reads never deadlocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.core.errors import EngineError
from dockyard.engine.base import STDERR, Engine, ExecSpec, ExecStream

OutputSink = Callable[[int, bytes], None]


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def last_error_line(self) -> str:
        """The last non-empty line of stderr (else stdout), for one-line messages."""
        for stream in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in stream.decode(errors="replace").splitlines()]
            lines = [ln for ln in lines if ln]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.exit_code}"


def run(
    engine: Engine,
    *,
    ref: str,
    spec: ExecSpec,
    stdin: Iterable[bytes] | None = None,
    on_output: OutputSink | None = None,
    on_started: Callable[[str], None] | None = None,
) -> ExecResult:
    """Run ``spec`` in container ``ref`` and wait for it; returns its exit code and output.

    With ``on_output`` the output goes to the callback and is not collected.
    """
    exec_id = engine.exec_create(ref=ref, spec=spec)
    stream = engine.exec_start(exec_id=exec_id, tty=spec.tty)
    out: list[bytes] = []
    err: list[bytes] = []
    pump: threading.Thread | None = None
    try:
        if on_started is not None:
            on_started(exec_id)
        if spec.stdin:
            pump = threading.Thread(
                target=_pump, args=(stream, stdin or ()), name="exec-stdin", daemon=True
            )
            pump.start()
        for kind, data in stream.frames():
            if on_output is not None:
                on_output(kind, data)
            else:
                (err if kind == STDERR else out).append(data)
    finally:
        stream.close()
    info = engine.exec_inspect(exec_id=exec_id)
    if info.exit_code is None:
        raise EngineError(f"the engine reported no exit code for exec {exec_id[:12]}")
    return ExecResult(info.exit_code, b"".join(out), b"".join(err))


def _pump(stream: ExecStream, chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            stream.send(chunk)
    except OSError:
        return  # the process exited and closed its input; nothing more to deliver
    finally:
        stream.close_input()
