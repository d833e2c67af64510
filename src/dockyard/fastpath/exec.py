"""``dockyard exec KEY -- CMD...`` without the service's start-up.

It does what the full command does for a running workspace (``service.workspaces.
execs``): an ``exec`` session held for the command's run (its opening and its closing are
activity on the workspace), ``DOCKYARD_WORKSPACE`` in the command's environment, the
command's output streamed as it comes and its exit code as dockyard's. It answers None,
having run nothing, whenever the case is not plainly its own: options, a workspace that
is not running or not there, a store of another release, an engine call refused before
the command started. The full CLI then does the whole command, and says what is wrong.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from dockyard.core.commands import check_command
from dockyard.core.errors import DockyardError, Unavailable
from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.model import ACTIVE_STATES
from dockyard.engine.base import ExecSpec
from dockyard.engine.docker import DockerEngine, DockerExecStream
from dockyard.engine.process import run
from dockyard.fastpath.place import place
from dockyard.store.direct import DirectStore
from dockyard.store.holders import nonce_of, process_identity
from dockyard.store.lockfiles import LockFiles, holders_dir

log = logging.getLogger("dockyard.exec")

EXIT_INTERRUPTED = 130


def command_of(args: Sequence[str]) -> tuple[str, list[str]] | None:
    """KEY and the command of ``exec``'s arguments, when nothing in them could be one of
    its options: ``KEY -- CMD...``, or ``KEY CMD...`` with no word starting with ``-``."""
    if len(args) < 2 or args[0].startswith("-"):
        return None
    key, rest = args[0], list(args[1:])
    if rest[0] == "--":
        return (key, rest[1:]) if len(rest) > 1 else None
    if any(word.startswith("-") for word in rest):
        return None
    return key, rest


def quick_exec(args: Sequence[str]) -> int | None:
    """The exit code of ``dockyard exec`` with ``args``, or None: the full CLI's case."""
    found = command_of(args)
    where = place(os.environ)
    if found is None or where is None:
        return None
    key, argv = found
    try:
        check_command(argv, {})
    except DockyardError:
        return None
    store = DirectStore.open(where.database)
    if store is None:
        return None
    try:
        return _exec(store, key, argv, engine_url=where.engine_url, workdir=where.workdir)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    finally:
        store.close()


def _session(store: DirectStore, key: str, argv: list[str]) -> tuple[str, str] | None:
    """The container of the running workspace ``key`` and the exec session opened on it;
    None (nothing written) if the workspace is not plainly running on the one engine."""
    try:
        ws = store.workspace(key)
        if ws is None or ws.state not in ACTIVE_STATES or not ws.container_id:
            return None
        if ws.engine != DEFAULT_ENGINE:
            return None
        holder = process_identity()
        nonce = nonce_of(holder)
        if nonce is not None:  # before the holder's name is written anywhere
            LockFiles(holders_dir(str(store.path))).announce(nonce)
        at = _now()
        return ws.container_id, store.open_exec(
            key, holder=holder, at=at, description=" ".join(argv)
        )
    except (sqlite3.Error, OSError) as exc:
        log.debug("quick exec left to the full CLI: %s", exc)
        return None


def _exec(
    store: DirectStore, key: str, argv: list[str], *, engine_url: str, workdir: str
) -> int | None:
    held = _session(store, key, argv)
    if held is None:
        return None
    container, session = held
    engine = _Watched(engine_url)
    try:
        result = run(
            engine,
            ref=container,
            spec=ExecSpec(argv=argv, env={"DOCKYARD_WORKSPACE": key}, workdir=workdir),
            on_output=_write,
        )
    except DockyardError as exc:
        # Declined only when the command cannot have started: the exec was not made, or
        # the engine answered its start with a refusal. A start whose answer was lost
        # (a timeout, a reset) may run all the same: it is never run a second time.
        if not engine.start_sent or (not isinstance(exc, Unavailable) and not engine.started):
            return None
        _error(exc.message)
        return exc.exit_code
    except BrokenPipeError:
        return 0  # the reader went away (dockyard exec k -- cat f | head), as the full CLI
    finally:
        engine.close()
        try:
            store.close_exec(key, session, at=_now())
        except sqlite3.Error as exc:  # the command's outcome matters more than bookkeeping
            log.warning("could not close exec session %s of %s: %s", session, key, exc)
    return result.exit_code


class _Watched(DockerEngine):
    """The engine client, noting how far the exec got: its start sent (it may run from
    then on, whatever the client hears), and started (its stream open)."""

    start_sent = False
    started = False

    def exec_start(self, *, exec_id: str, tty: bool) -> DockerExecStream:
        self.start_sent = True
        stream = super().exec_start(exec_id=exec_id, tty=tty)
        self.started = True
        return stream


def _now() -> datetime:
    return datetime.now(UTC)


def _write(stream: int, data: bytes) -> None:
    """Raw process output, unbuffered, to stdout (1) or stderr (2)."""
    target = sys.stderr if stream == 2 else sys.stdout
    target.buffer.write(data)
    target.buffer.flush()


def _error(message: str) -> None:
    sys.stderr.write(f"dockyard: error: {message}\n")
    sys.stderr.flush()
