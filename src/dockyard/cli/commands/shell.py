"""``dockyard shell KEY``: an interactive terminal in a workspace."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import command_argv, process_options
from dockyard.cli.terminal import RemoteTerminal, input_chunks, is_terminal
from dockyard.core.errors import DockyardError, InvalidInput
from dockyard.core.model import SessionKind

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.client.terminal import TerminalLink

#: bash where the image has it, else the POSIX shell every image has.
DEFAULT_SHELL = ("sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--session",
    "session_id",
    help="Attach to this shell session of KEY, held by a server (with --url): the same "
    "shell, its recent screen repainted.",
)
@process_options
@pass_app
def shell(
    app: App,
    *,
    key: str,
    command: tuple[str, ...],
    session_id: str | None,
    env: tuple[tuple[str, str], ...],
    workdir: str | None,
) -> int:
    """Open an interactive shell in the workspace KEY (bash if its image has it, else
    sh), or run COMMAND on a terminal there: dockyard shell KEY -- htop

    Keys go to the workspace as typed, Ctrl-C included, and the window size follows
    yours. Exits with the shell's exit code. While it is open it is a `shell` session of
    the workspace, and its running process keeps the workspace from being parked as
    idle. Needs a terminal; to pipe input to a command use `dockyard exec -i`.

    Through a server (--url) the shell is a session the server holds: its id is
    printed, and `dockyard shell KEY --session ID` (or the dashboard) attaches to the
    same shell later, from anywhere, until it ends or idles out.
    """
    argv = command_argv(command)
    if not is_terminal():
        raise InvalidInput(
            "`dockyard shell` needs a terminal on standard input and output; "
            f"to pipe input to a command use `dockyard exec -i {key} -- COMMAND`"
        )
    client = app.remote()
    if client is not None:
        if argv or env or workdir:
            raise click.UsageError("through --url, shell opens a session's shell: no COMMAND")
        return _attach(app, client, key, session_id)
    if session_id is not None:
        raise InvalidInput(
            "a shell session's terminal lives in the `dockyard serve` that holds it; "
            "attach through it with --url (or DOCKYARD_URL)"
        )
    dy = app.dockyard()
    environment = {"TERM": os.environ.get("TERM") or "xterm", **dict(env)}
    with RemoteTerminal(
        lambda exec_id, rows, cols: dy.resize_exec(key, exec_id, rows=rows, cols=cols)
    ) as terminal:
        return dy.exec(
            key,
            argv or DEFAULT_SHELL,
            env=environment,
            workdir=workdir,
            tty=True,
            stdin=input_chunks(),
            on_output=app.term.write_bytes,
            kind=SessionKind.SHELL,
            on_started=terminal.started,
        )


def _attach(app: App, client: Client, key: str, session_id: str | None) -> int:
    """This terminal, lent to a shell session the server holds (a new one by default)."""
    if session_id is None:
        session_id = client.open_session(key, kind=SessionKind.SHELL, description="cli").id
        app.term.note(f"session {session_id} (again: dockyard shell {key} --session {session_id})")
    elif client.session(session_id).workspace != key:
        raise click.UsageError(f"session {session_id} is not one of workspace {key!r}")
    size = os.get_terminal_size(sys.stdout.fileno())
    with client.terminal(session_id, rows=size.lines, cols=size.columns) as link:
        pump = threading.Thread(target=_keys, args=(link,), name="keys", daemon=True)
        with RemoteTerminal(lambda _id, rows, cols: link.resize(rows, cols)) as terminal:
            terminal.started(session_id)
            pump.start()
            for data in link.output():
                app.term.write_bytes(1, data)
    app.term.note(f"session {session_id}: its shell ended")
    return 0


def _keys(link: TerminalLink) -> None:
    with contextlib.suppress(OSError, DockyardError):  # the link or the terminal closed
        for chunk in input_chunks():
            link.send(chunk)
