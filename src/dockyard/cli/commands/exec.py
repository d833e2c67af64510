"""``dockyard exec KEY -- CMD...``: run a command in a workspace, with its exit code."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import command_argv, process_options
from dockyard.cli.terminal import input_chunks
from dockyard.client.models import Output


@click.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-i", "--interactive", is_flag=True, help="Pass standard input to the command.")
@process_options
@pass_app
def exec_(
    app: App,
    *,
    key: str,
    command: tuple[str, ...],
    interactive: bool,
    env: tuple[tuple[str, str], ...],
    workdir: str | None,
) -> int:
    """Run COMMAND in the workspace KEY; output streams as it comes.

    Exits with the command's exit code. Counts as activity for the whole run, so a
    long silent command keeps the workspace alive. Put `--` before the command when it
    has options of its own: dockyard exec KEY -- ls -la
    """
    argv = command_argv(command)
    if not argv:
        raise click.UsageError("missing the command to run")
    client = app.remote()
    if client is not None:
        if interactive:
            raise click.UsageError("-i works on this machine's engine, not through --url")
        code = 0
        for piece in client.exec_stream(key, argv, env=dict(env), workdir=workdir):
            if isinstance(piece, Output):
                app.term.write_bytes(2 if piece.stream == "stderr" else 1, piece.text.encode())
            else:
                code = piece.exit_code
        return code
    return app.dockyard().exec(
        key,
        argv,
        env=dict(env),
        workdir=workdir,
        stdin=input_chunks() if interactive else None,
        on_output=app.term.write_bytes,
    )
