"""``dockyard sessions KEY`` lists a workspace's sessions; ``dockyard run KEY -- CMD``
runs a command in a command session, whose shell keeps its working directory,
environment and background jobs from one command to the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import DURATION, command_argv, json_option
from dockyard.client import Client, Output
from dockyard.client import CommandResult as RemoteResult
from dockyard.core.errors import OperationFailed
from dockyard.core.model import SessionKind, SessionStatus
from dockyard.core.units import format_duration
from dockyard.service import CommandResult


@click.command()
@click.argument("key")
@click.option("--all", "show_all", is_flag=True, help="Closed sessions too.")
@json_option
@pass_app
def sessions(app: App, *, key: str, show_all: bool, as_json: bool) -> None:
    """List the live sessions of workspace KEY (with --all, the closed ones too)."""
    dy = app.remote() or app.dockyard()
    found = [s for s in dy.sessions(key) if show_all or s.status is not SessionStatus.DEAD]
    if as_json:
        app.term.json(
            [
                {
                    "id": s.id,
                    "kind": s.kind.value,
                    "status": s.status.value,
                    "created_at": s.created_at.isoformat(),
                    "last_used": s.last_used.isoformat(),
                    "closed_reason": str(s.closed_reason) if s.closed_reason else None,
                    "running": s.running_since is not None,
                    "description": s.description,
                }
                for s in found
            ]
        )
        return
    if not found:
        app.term.note(f"{key} has no live sessions; `dockyard run {key} -- COMMAND` opens one")
        return
    now = datetime.now(UTC)
    rows: list[list[str]] = [
        [
            s.id,
            s.kind.value,
            s.status.value
            if s.status is not SessionStatus.DEAD
            else f"dead ({s.closed_reason or 'closed'})",
            format_duration(now - s.last_used) + " ago",
            "running" if s.running_since is not None else "",
            s.description,
        ]
        for s in found
    ]
    app.term.table(["ID", "KIND", "STATUS", "LAST USED", "COMMAND", "DESCRIPTION"], rows)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--session", "session_id", help="A command session of KEY (default: a new one).")
@click.option(
    "--timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    help="Interrupt the command after this long; the session stays usable.",
)
@json_option
@pass_app
def run(
    app: App,
    *,
    key: str,
    command: tuple[str, ...],
    session_id: str | None,
    timeout: timedelta,
    as_json: bool,
) -> int:
    """Run COMMAND in a command session of workspace KEY and exit with its exit code
    (130 when --timeout interrupted it; 124 when the session's shell ended, as `exit`
    ends it).

    The session's shell keeps its working directory, exported variables and background
    jobs between commands: `dockyard run KEY --session ID -- pwd` carries on where the
    last command left off. Without --session a new session is opened and its id printed
    (to stderr). The words of COMMAND are joined with spaces and run by the shell, as
    ssh does: quote what the shell should see as one word.
    """
    text = " ".join(command_argv(command))
    if not text.strip():
        raise click.UsageError("missing the command to run")
    client = app.remote()
    if client is not None:
        return _run_remote(
            app, client, key, text, session_id=session_id, timeout=timeout, as_json=as_json
        )
    dy = app.dockyard()
    if session_id is None:
        session_id = dy.open_session(key, kind=SessionKind.COMMAND, description=text[:255]).id
        app.term.note(
            f"session {session_id} (next: dockyard run {key} --session {session_id} -- …)"
        )
    elif dy.session(session_id).workspace_key != key:
        raise click.UsageError(f"session {session_id} is not one of workspace {key!r}")
    result = dy.run_command(
        session_id,
        text,
        timeout_s=timeout.total_seconds(),
        on_output=None if as_json else (lambda data: app.term.write_bytes(1, data)),
    )
    if as_json:
        app.term.json(result.to_json())
    return _ended(app, session_id, timeout=timeout, result=result)


def _ended(
    app: App, session_id: str, *, timeout: timedelta, result: CommandResult | RemoteResult
) -> int:
    if result.timed_out:
        app.term.warn(f"interrupted after {format_duration(timeout)} (--timeout)")
    if result.session_ended:
        app.term.warn(f"session {session_id} ended (its shell exited)")
    return 124 if result.exit_code is None else result.exit_code


def _run_remote(
    app: App,
    client: Client,
    key: str,
    text: str,
    *,
    session_id: str | None,
    timeout: timedelta,
    as_json: bool,
) -> int:
    if session_id is None:
        session_id = client.open_session(key, description=text[:255]).id
        app.term.note(
            f"session {session_id} (next: dockyard run {key} --session {session_id} -- …)"
        )
    elif client.session(session_id).workspace != key:
        raise click.UsageError(f"session {session_id} is not one of workspace {key!r}")
    if as_json:
        result = client.run_command(session_id, text, timeout=timeout)
        app.term.json(dict(result.raw))
        return _ended(app, session_id, timeout=timeout, result=result)
    for piece in client.command_stream(session_id, text, timeout=timeout):
        if isinstance(piece, Output):
            app.term.write_bytes(1, piece.text.encode())
        else:
            return _ended(app, session_id, timeout=timeout, result=piece)
    raise OperationFailed(f"the server's answer to the command in {session_id} had no end")
