"""``dockyard stop KEY|--all [--remove] [--force]``: stop (and optionally park) workspaces.

A workspace in use (live sessions or running exec processes) is only stopped with
``--force`` or after a yes on the terminal; with no terminal the command refuses rather
than hang waiting for an answer nobody can give.
"""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.errors import Refused, SaveFailed
from dockyard.core.model import ACTIVE_STATES, State
from dockyard.service import Change, Dockyard


@click.command()
@click.argument("key", required=False)
@click.option("--all", "all_", is_flag=True, help="Every running workspace.")
@click.option("--remove", is_flag=True, help="Also remove the container (work kept: parked).")
@click.option("-f", "--force", is_flag=True, help="Even if it is in use; no questions.")
@json_option
@pass_app
def stop(app: App, *, key: str | None, all_: bool, remove: bool, force: bool, as_json: bool) -> int:
    """Stop the workspace KEY (or --all); `up` starts it again."""
    if bool(key) == all_:
        raise click.UsageError("give a workspace KEY or --all, not both")
    app.cleanup_in_background()
    dy = app.dockyard()
    keys = [key] if key else _stoppable(dy)
    verb = "park" if remove else "stop"
    forced = force
    if all_ and not force:
        busy = [(k, u.describe()) for k in keys if (u := dy.usage(k)).busy]
        if busy and app.term.interactive:
            listing = "; ".join(f"{k} ({what})" for k, what in busy)
            forced = app.term.confirm(f"{len(busy)} in use: {listing}. {verb.title()} them too?")
    changes, refused = _apply_each(app, dy, keys, remove=remove, force=forced, single=not all_)
    if any(c.changed for c in changes):
        app.notify_reconciler()
    if as_json:
        app.term.json(
            {
                "changed": [c.workspace.key for c in changes if c.changed],
                "unchanged": [c.workspace.key for c in changes if not c.changed],
                "refused": [{"key": k, "reason": r} for k, r in refused],
            }
        )
    else:
        for change in changes:
            _render(app, change)
        for k, reason in refused:
            app.term.error(f"{reason}; pass --force to {verb} it anyway" if k else reason)
        if all_ and not keys:
            app.term.note("no running workspaces")
    return 4 if refused else 0


def _stoppable(dy: Dockyard) -> list[str]:
    states = [*ACTIVE_STATES, State.FAILED, State.SAVE_FAILED, State.STOPPED]
    return dy.keys(states=states)


def _apply_each(
    app: App, dy: Dockyard, keys: list[str], *, remove: bool, force: bool, single: bool
) -> tuple[list[Change], list[tuple[str, str]]]:
    changes: list[Change] = []
    refused: list[tuple[str, str]] = []
    for k in keys:
        try:
            changes.append(_apply(app, dy, k, remove=remove, force=force, ask=single))
        except Refused as exc:
            refused.append((k, exc.message))
        except SaveFailed as exc:  # one workspace's failed save must not stop the others
            if single:
                raise
            refused.append(("", exc.message))
    return changes, refused


def _apply(app: App, dy: Dockyard, key: str, *, remove: bool, force: bool, ask: bool) -> Change:
    action = dy.park if remove else dy.stop
    try:
        return action(key, force=force)
    except Refused as exc:
        if not ask or not app.term.interactive:
            raise
        if not app.term.confirm(f"{exc.message}. {'Park' if remove else 'Stop'} it anyway?"):
            raise Refused(f"{key}: left running") from None
        return action(key, force=True)


def _render(app: App, change: Change) -> None:
    ws = change.workspace
    if not change.changed:
        app.term.out(f"{ws.key}: {change.detail}")
        return
    text = f"{ws.state.value} {ws.key}"
    app.term.out(text + (f": {change.detail}" if change.detail else ""))
