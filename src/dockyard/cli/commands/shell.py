"""``dockyard shell KEY``: an interactive terminal in a workspace."""

from __future__ import annotations

import os

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import command_argv, process_options
from dockyard.cli.terminal import RemoteTerminal, input_chunks, is_terminal
from dockyard.core.errors import InvalidInput
from dockyard.core.model import SessionKind

#: bash where the image has it, else the POSIX shell every image has.
DEFAULT_SHELL = ("sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@process_options
@pass_app
def shell(
    app: App,
    *,
    key: str,
    command: tuple[str, ...],
    env: tuple[tuple[str, str], ...],
    workdir: str | None,
) -> int:
    """Open an interactive shell in the workspace KEY (bash if its image has it, else
    sh), or run COMMAND on a terminal there: dockyard shell KEY -- htop

    Keys go to the workspace as typed, Ctrl-C included, and the window size follows
    yours. Exits with the shell's exit code. While it is open it is a `shell` session of
    the workspace, and its running process keeps the workspace from being parked as
    idle. Needs a terminal; to pipe input to a command use `dockyard exec -i`.
    """
    argv = command_argv(command)
    if not is_terminal():
        raise InvalidInput(
            "`dockyard shell` needs a terminal on standard input and output; "
            f"to pipe input to a command use `dockyard exec -i {key} -- COMMAND`"
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
